# Cascade Mask R-CNN MS 3x (plain Shared2FC heads) | MogaNet-S (ImageNet-1K) | COCO | 8 GPUs x 2
# paper (official README): 77.9M params, 405.4 GFLOPs at 1280x800, 51.4 box AP, 44.9 mask AP
# recipe: official cascade_mask_rcnn_moganet_s_fpn_ms_3x_coco
# (see _base_/cascade_mask_rcnn_moganet_3x.py)
_base_ = ['./_base_/cascade_mask_rcnn_moganet_3x.py', './_base_/backbones/moganet_s.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
