# Mask R-CNN 1x | MogaNet-B (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 63.4M params, 373.1 GFLOPs at 1280x800, 47.9 box AP, 43.2 mask AP
_base_ = './_base_/mask_rcnn_moganet_1x.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_base_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[64, 160, 320, 512]))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
