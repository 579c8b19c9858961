# HorNet-S GF: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official detection/segmentation "Pretrained Model" (Tsinghua Cloud)
variant = dict(
    arch='small',
    mixer='gf',
    channels=[96, 192, 384, 768],
    checkpoint='https://cloud.tsinghua.edu.cn/f/8405c984bf084d2ba85a/?dl=1')
