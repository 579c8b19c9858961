# RetinaNet 1x | MogaNet-T (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 14.4M params, 173.4 GFLOPs at 1280x800, 41.4 box AP
# recipe: official retinanet_moganet_tiny_fpn_1x_coco (see _base_/retinanet_moganet_1x.py)
_base_ = './_base_/retinanet_moganet_1x.py'

model = dict(
    backbone=dict(
        arch='tiny',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_tiny_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[32, 64, 128, 256]))
