# Mask R-CNN MS 3x | MogaNet-B (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper (official README): 63.4M params, 373.1 GFLOPs at 1280x800, 50.3 box AP, 44.4 mask AP
# drop path 0.3 as in the official 3x config (its 1x config uses 0.2)
# recipe: official mask_rcnn_moganet_b_fpn_mstrain_480-800_3x_coco
# (see _base_/mask_rcnn_moganet_3x.py)
_base_ = ['./_base_/mask_rcnn_moganet_3x.py', './_base_/backbones/moganet_b.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
