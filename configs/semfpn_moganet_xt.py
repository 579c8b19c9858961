# Semantic FPN 80K | MogaNet-XT (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 4 images
# paper (MogaNet segmentation README / paper): 6.9M params, 101.4G FLOPs at 2048x512,
# 40.3 mIoU, 52.4 mAcc (single scale)
# recipe: the official fpn_moganet_xtiny_80k_ade20k (see _base_/semfpn_moganet_80k.py),
# drop path 0.05, AlignResize test
_base_ = ['./_base_/semfpn_moganet_80k.py', './_base_/backbones/moganet_xt.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.05,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
