# HorNet-T GF: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official detection/segmentation "Pretrained Model" (Tsinghua Cloud)
variant = dict(
    arch='tiny',
    mixer='gf',
    channels=[64, 128, 256, 512],
    checkpoint='https://cloud.tsinghua.edu.cn/f/511faad0bde94dfcaa54/?dl=1')
