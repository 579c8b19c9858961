# Mask R-CNN 1x | MogaNet-T (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 25.0M params, 191.7 GFLOPs at 1280x800, 42.6 box AP, 39.1 mask AP
_base_ = ['./_base_/mask_rcnn_moganet_1x.py', './_base_/backbones/moganet_t.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
