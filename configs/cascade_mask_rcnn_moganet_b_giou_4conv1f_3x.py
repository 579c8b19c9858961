# Cascade Mask R-CNN MS 3x, GIoU 4conv1f heads | MogaNet-B (ImageNet-1K) | COCO | 8 GPUs x 2
# paper: 101M params (README 101.2M), 851 GFLOPs at 1280x800 (README 851.6G),
# 52.6 box AP, 46.0 mask AP
# recipe: official cascade_mask_rcnn_moganet_b_fpn_giou_4conv1f_ms_3x_coco
# Layer-wise LR decay with the official MogaNet layer ids
# (BackboneLayerDecayOptimWrapperConstructor):
# AdamW lr 1e-4 wd 0.05, decay rate 0.8, num_layers 12; no weight decay on 1-D params and biases.
# (see _base_/cascade_mask_rcnn_moganet_giou_4conv1f_3x.py)
_base_ = [
    './_base_/cascade_mask_rcnn_moganet_giou_4conv1f_3x.py', './_base_/backbones/moganet_b.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=12))
