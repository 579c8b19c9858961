# RetinaNet 1x | MogaNet-S (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 35.1M params, 253.0 GFLOPs at 1280x800, 45.8 box AP
# recipe: official retinanet_moganet_small_fpn_1x_coco (see _base_/retinanet_moganet_1x.py)
_base_ = './_base_/retinanet_moganet_1x.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_small_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[64, 128, 320, 512]))
