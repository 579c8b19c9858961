# HorNet-B GF: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official detection/segmentation "Pretrained Model" (Tsinghua Cloud)
variant = dict(
    arch='base',
    mixer='gf',
    channels=[128, 256, 512, 1024],
    checkpoint='https://cloud.tsinghua.edu.cn/f/6c84935e63b547f383fb/?dl=1')
