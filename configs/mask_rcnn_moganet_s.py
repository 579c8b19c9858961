# Mask R-CNN 1x | MogaNet-S (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 45.0M params, 271.6 GFLOPs at 1280x800, 46.7 box AP, 42.2 mask AP
_base_ = ['./_base_/mask_rcnn_moganet_1x.py', './_base_/backbones/moganet_s.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
