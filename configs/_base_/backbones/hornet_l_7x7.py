# HorNet-L 7x7: the facts every config of this backbone reads as `_base_.variant`
# (the arch, the channels of its four stage outputs and the weights the downstream
# configs start from); params, FLOPs and accuracy live in the metafiles
# checkpoint: the official detection/segmentation "Pretrained Model" (Tsinghua Cloud)
# in22k_checkpoint: the ImageNet-22K release, which the 384x384 ImageNet-1K fine-tuning starts from
variant = dict(
    arch='large',
    mixer='dw',
    channels=[192, 384, 768, 1536],
    checkpoint='https://cloud.tsinghua.edu.cn/f/a76f7ce114ad4e9c8ffb/?dl=1',
    in22k_checkpoint='https://cloud.tsinghua.edu.cn/f/c2fc23caae084a3aa73d/?dl=1')
