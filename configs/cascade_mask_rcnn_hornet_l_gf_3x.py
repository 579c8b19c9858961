# Cascade Mask R-CNN 3x, GIoU 4conv1f heads | HorNet-L GF (ImageNet-22K) | COCO |
# 8 GPUs x 2 images
# paper (Table 2): 259M params, 1358G FLOPs at 1280x800, 56.0 box AP, 48.6 mask AP
# recipe: official cascade_mask_rcnn_hornet_large_gf_3x_coco_in22k
# (see _base_/cascade_mask_rcnn_hornet_3x.py)
# GF filters stored at 24x13 / 12x7 (stages 3 / 4) as in the official config; the 22K
# checkpoint's 14x8 / 7x4 filters are resized when loaded (bilinear, align_corners).
# backbone weights: the official det/seg "Pretrained Model" release (ImageNet-22K)
_base_ = ['./_base_/cascade_mask_rcnn_hornet_3x.py', './_base_/backbones/hornet_l_gf.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        gf_sizes=((24, 13), (12, 7)),
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(optimizer=dict(lr=0.0001))
