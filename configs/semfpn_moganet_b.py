# Semantic FPN 80K | MogaNet-B (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 4 images
# paper (MogaNet segmentation README / paper): 47.5M params, 293.6G FLOPs at 2048x512,
# 49.3 mIoU, 61.6 mAcc (single scale)
# recipe: the official fpn_moganet_base_80k_ade20k (see _base_/semfpn_moganet_80k.py),
# drop path 0.2, AlignResize test
_base_ = ['./_base_/semfpn_moganet_80k.py', './_base_/backbones/moganet_b.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
