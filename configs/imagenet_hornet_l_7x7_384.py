# ImageNet-1K | HorNet-L (7x7), ImageNet-22K pre-trained | 384x384
# 4 nodes x 8 GPUs x 16, 30 epochs
# paper (HorNet Table 1, "HorNet-L ↑384"): 195M params, 102.3G FLOPs, 87.6 top-1
# no ImageNet-1K release; the backbone starts from the official ImageNet-22K file (Tsinghua Cloud)
_base_ = ['./_base_/imagenet_hornet_large_384.py', './_base_/backbones/hornet_l_7x7.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.in22k_checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
