# Mask R-CNN 1x | MogaNet-XT (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 22.8M params, 185.4 GFLOPs at 1280x800, 40.7 box AP, 37.6 mask AP
_base_ = './_base_/mask_rcnn_moganet_1x.py'

model = dict(
    backbone=dict(
        arch='xtiny',
        drop_path_rate=0.05,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_xtiny_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[32, 64, 96, 192]))
