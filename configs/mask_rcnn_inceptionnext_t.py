# Mask R-CNN 1x | InceptionNeXt-T (ImageNet-1K) | COCO | 8 GPUs x 2 images
# no paper figure: InceptionNeXt reports no detection results; these configs are ours
# recipe: ConvNeXt's (see _base_/mask_rcnn_inceptionnext_1x.py);
# drop path 0.2, layer decay num_layers 6
_base_ = './_base_/mask_rcnn_inceptionnext_1x.py'

model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/sail-sg/inceptionnext/releases/download/model/'
            'inceptionnext_tiny.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
