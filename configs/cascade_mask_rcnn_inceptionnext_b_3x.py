# Cascade Mask R-CNN 3x, GIoU 4conv1f heads | InceptionNeXt-B (ImageNet-1K) | COCO |
# 8 GPUs x 2 images
# no paper figure: InceptionNeXt reports no detection results; these configs are ours
# recipe: ConvNeXt's (see _base_/cascade_mask_rcnn_inceptionnext_3x.py);
# drop path 0.4, layer decay num_layers 12
_base_ = './_base_/cascade_mask_rcnn_inceptionnext_3x.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.4,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/sail-sg/inceptionnext/releases/download/model/'
            'inceptionnext_base.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))

optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
