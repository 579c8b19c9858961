# Mask R-CNN 1x | MogaNet-L (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 102.1M params, 495.3 GFLOPs at 1280x800, 49.4 box AP, 44.1 mask AP
_base_ = './_base_/mask_rcnn_moganet_1x.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_large_sz224_8xbs64_ep300.pth.tar')),
    neck=dict(in_channels=[64, 160, 320, 640]))

optim_wrapper = dict(optimizer=dict(lr=1e-4))
