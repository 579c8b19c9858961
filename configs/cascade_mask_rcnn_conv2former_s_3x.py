# Cascade Mask R-CNN 3x, GIoU 4conv1f heads | Conv2Former-S (ImageNet-1K) | COCO | 8 GPUs x 2
# paper (Table 8): 52.8 box AP, 45.7 mask AP (no params / FLOPs given); drop path 0.6 (Table 12)
# recipe: ConvNeXt's (see _base_/cascade_mask_rcnn_conv2former_3x.py); layer decay num_layers 12
# weights: Baidu Netdisk only -> pretrained/conv2former_s_1k.pth (see the base for how to get it)
_base_ = ['./_base_/cascade_mask_rcnn_conv2former_3x.py', './_base_/backbones/conv2former_s.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.6,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
