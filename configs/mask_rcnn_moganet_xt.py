# Mask R-CNN 1x | MogaNet-XT (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 22.8M params, 185.4 GFLOPs at 1280x800, 40.7 box AP, 37.6 mask AP
_base_ = ['./_base_/mask_rcnn_moganet_1x.py', './_base_/backbones/moganet_xt.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.05,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
