# Mask R-CNN MS 3x | MogaNet-T (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper (official README): 25.0M params, 191.7 GFLOPs at 1280x800, 45.3 box AP, 40.7 mask AP
# recipe: official mask_rcnn_moganet_t_fpn_mstrain_480-800_3x_coco
# (see _base_/mask_rcnn_moganet_3x.py)
_base_ = ['./_base_/mask_rcnn_moganet_3x.py', './_base_/backbones/moganet_t.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
