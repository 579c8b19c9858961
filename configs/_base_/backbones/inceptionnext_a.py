# InceptionNeXt-A: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
variant = dict(arch='atto', channels=[40, 80, 160, 320])
