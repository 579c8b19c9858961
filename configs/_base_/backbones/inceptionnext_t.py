# InceptionNeXt-T: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official ImageNet-1K release (GitHub)
variant = dict(
    arch='tiny',
    channels=[96, 192, 384, 768],
    checkpoint=('https://github.com/sail-sg/inceptionnext/releases/download/model/'
                'inceptionnext_tiny.pth'))
