# Mask R-CNN MS 3x | MogaNet-L (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper (official README): 102.1M params, 495.3 GFLOPs at 1280x800, 50.6 box AP, 44.6 mask AP
# (the official README prints B's 63.4M / 373.1G for this row, a copy error; this is the
# MogaNet-L Mask R-CNN, the same model as the 1x row: 102.1M / 495.3G)
# recipe: official mask_rcnn_moganet_l_fpn_mstrain_480-800_3x_coco
# (see _base_/mask_rcnn_moganet_3x.py)
_base_ = ['./_base_/mask_rcnn_moganet_3x.py', './_base_/backbones/moganet_l.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
