# Semantic FPN 80K | MogaNet-T (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 4 images
# paper (MogaNet segmentation README / paper): 9.1M params, 107.8G FLOPs at 2048x512,
# 43.1 mIoU, 55.4 mAcc (single scale)
# recipe: the official fpn_moganet_tiny_80k_ade20k (see _base_/semfpn_moganet_80k.py),
# drop path 0.1, AlignResize test
_base_ = ['./_base_/semfpn_moganet_80k.py', './_base_/backbones/moganet_t.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
