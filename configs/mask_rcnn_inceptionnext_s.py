# Mask R-CNN 1x | InceptionNeXt-S (ImageNet-1K) | COCO | 8 GPUs x 2 images
# no paper figure: InceptionNeXt reports no detection results; these configs are ours
# recipe: ConvNeXt's (see _base_/mask_rcnn_inceptionnext_1x.py);
# drop path 0.3, layer decay num_layers 12
_base_ = './_base_/mask_rcnn_inceptionnext_1x.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/sail-sg/inceptionnext/releases/download/model/'
            'inceptionnext_small.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(paramwise_cfg=dict(num_layers=12))
