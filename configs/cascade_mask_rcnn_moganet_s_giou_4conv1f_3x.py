# Cascade Mask R-CNN MS 3x, GIoU 4conv1f heads | MogaNet-S (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 78M params (82.8M in the official README), 750 GFLOPs at 1280x800 (README 750.2G),
# 51.6 box AP (README 51.7), 45.1 mask AP
# recipe: official cascade_mask_rcnn_moganet_s_fpn_giou_4conv1f_ms_3x_coco
# (see _base_/cascade_mask_rcnn_moganet_giou_4conv1f_3x.py)
_base_ = [
    './_base_/cascade_mask_rcnn_moganet_giou_4conv1f_3x.py', './_base_/backbones/moganet_s.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
