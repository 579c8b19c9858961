# Cascade Mask R-CNN 3x, GIoU 4conv1f heads | Conv2Former-T (ImageNet-1K) | COCO | 8 GPUs x 2
# paper (Table 8): 51.4 box AP, 44.5 mask AP (no params / FLOPs given); drop path 0.2 (Table 12)
# recipe: ConvNeXt's (see _base_/cascade_mask_rcnn_conv2former_3x.py); layer decay num_layers 6
# weights: Baidu Netdisk only -> pretrained/conv2former_t_1k.pth (see the base for how to get it)
_base_ = ['./_base_/cascade_mask_rcnn_conv2former_3x.py', './_base_/backbones/conv2former_t.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
