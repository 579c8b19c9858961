# MogaNet-XT: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official ImageNet-1K release (GitHub)
variant = dict(
    arch='xtiny',
    channels=[32, 64, 96, 192],
    checkpoint=('https://github.com/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/'
                'moganet_xtiny_sz224_8xbs128_ep300.pth.tar'))
