# HorNet-S 7x7: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official detection/segmentation "Pretrained Model" (Tsinghua Cloud)
# in1k_checkpoint: the ImageNet-1K release, which the HorFPN study (Table 3) starts from
variant = dict(
    arch='small',
    mixer='dw',
    channels=[96, 192, 384, 768],
    checkpoint='https://cloud.tsinghua.edu.cn/f/46422799db2941f7b684/?dl=1',
    in1k_checkpoint='https://cloud.tsinghua.edu.cn/f/8ef64277da0e469ea857/?dl=1')
