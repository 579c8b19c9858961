# ImageNet-1K | HorNet-L (GF), ImageNet-22K pre-trained | 384x384 | 4 nodes x 8 GPUs x 16, 30 epochs
# paper (HorNet Table 1, "HorNet-L ↑384"): 202M params, 101.8G FLOPs, 87.7 top-1
# no ImageNet-1K release; the backbone starts from the official ImageNet-22K file (Tsinghua Cloud)
_base_ = ['./_base_/imagenet_hornet_large_384.py', './_base_/backbones/hornet_l_gf.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        gf_sizes=((24, 13), (12, 7)),  # hornet_large_gf_img384
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.in22k_checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
