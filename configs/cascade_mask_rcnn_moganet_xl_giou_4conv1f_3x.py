# Cascade Mask R-CNN MS 3x, GIoU 4conv1f heads | MogaNet-XL | COCO | 8 GPUs x 2 images
# paper: 238M params, 1355 GFLOPs at 1280x800, 56.2 box AP, 48.8 mask AP, with an ImageNet-22K
# pretrained MogaNet-XL
# recipe: no official config or weights for this row. Our reconstruction: the official B/L recipe
# (layer-wise decay 0.8 over 12 layers, lr 1e-4) with drop path 0.4 (MogaNet-XL's ImageNet and
# UperNet value). No ImageNet-22K MogaNet-XL was ever released, so init_cfg points at the only
# released XL weights, the ImageNet-1K sz224 file; expect lower AP than the paper's 22K row, or
# pass your own 22K checkpoint with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
# Layer-wise LR decay with the official MogaNet layer ids
# (BackboneLayerDecayOptimWrapperConstructor):
# AdamW lr 1e-4 wd 0.05, decay rate 0.8, num_layers 12; no weight decay on 1-D params and biases.
# (see _base_/cascade_mask_rcnn_moganet_giou_4conv1f_3x.py)
_base_ = [
    './_base_/cascade_mask_rcnn_moganet_giou_4conv1f_3x.py', './_base_/backbones/moganet_xl.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=12))
