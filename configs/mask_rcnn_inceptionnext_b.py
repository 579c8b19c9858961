# Mask R-CNN 1x | InceptionNeXt-B (ImageNet-1K) | COCO | 8 GPUs x 2 images
# no paper figure: InceptionNeXt reports no detection results; these configs are ours
# recipe: ConvNeXt's (see _base_/mask_rcnn_inceptionnext_1x.py);
# drop path 0.4, layer decay num_layers 12
_base_ = ['./_base_/mask_rcnn_inceptionnext_1x.py', './_base_/backbones/inceptionnext_b.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
