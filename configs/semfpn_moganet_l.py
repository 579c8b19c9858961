# Semantic FPN 80K | MogaNet-L (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 4 images
# paper (MogaNet segmentation README / paper): 86.2M params, 418.7G FLOPs at 2048x512,
# 50.2 mIoU, 63.0 mAcc (single scale)
# recipe: the official fpn_moganet_large_80k_ade20k (see _base_/semfpn_moganet_80k.py),
# drop path 0.3, AlignResize test
_base_ = ['./_base_/semfpn_moganet_80k.py', './_base_/backbones/moganet_l.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
