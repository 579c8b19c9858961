# Mask R-CNN 1x | MogaNet-L (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 102.1M params, 495.3 GFLOPs at 1280x800, 49.4 box AP, 44.1 mask AP
_base_ = ['./_base_/mask_rcnn_moganet_1x.py', './_base_/backbones/moganet_l.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
