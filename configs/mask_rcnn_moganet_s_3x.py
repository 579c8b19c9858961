# Mask R-CNN MS 3x | MogaNet-S (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper (official README): 45.0M params, 271.6 GFLOPs at 1280x800, 48.5 box AP, 43.1 mask AP
# recipe: official mask_rcnn_moganet_s_fpn_mstrain_480-800_3x_coco
# (see _base_/mask_rcnn_moganet_3x.py)
_base_ = ['./_base_/mask_rcnn_moganet_3x.py', './_base_/backbones/moganet_s.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
