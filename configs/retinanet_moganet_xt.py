# RetinaNet 1x | MogaNet-XT (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 12.1M params, 167.2 GFLOPs at 1280x800, 39.7 box AP
# recipe: official retinanet_moganet_xtiny_fpn_1x_coco (see _base_/retinanet_moganet_1x.py)
_base_ = './_base_/retinanet_moganet_1x.py'

model = dict(
    backbone=dict(
        arch='xtiny',
        drop_path_rate=0.05,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_xtiny_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[32, 64, 96, 192]))
