# Mask R-CNN 1x | MogaNet-B (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 63.4M params, 373.1 GFLOPs at 1280x800, 47.9 box AP, 43.2 mask AP
_base_ = ['./_base_/mask_rcnn_moganet_1x.py', './_base_/backbones/moganet_b.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
