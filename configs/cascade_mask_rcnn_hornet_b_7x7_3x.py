# Cascade Mask R-CNN 3x, GIoU 4conv1f heads | HorNet-B 7x7 (ImageNet-1K) | COCO |
# 8 GPUs x 2 images
# paper (Table 2): 144M params, 969G FLOPs at 1280x800, 53.3 box AP, 46.1 mask AP
# recipe: official cascade_mask_rcnn_hornet_base_7x7_3x_coco_in1k
# (see _base_/cascade_mask_rcnn_hornet_3x.py)
# backbone weights: the official det/seg "Pretrained Model" release (ImageNet-1K)
_base_ = ['./_base_/cascade_mask_rcnn_hornet_3x.py', './_base_/backbones/hornet_b_7x7.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        drop_path_rate=0.7,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8))
