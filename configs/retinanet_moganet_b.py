# RetinaNet 1x | MogaNet-B (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 53.5M params, 354.5 GFLOPs at 1280x800, 47.7 box AP
# recipe: official retinanet_moganet_base_fpn_1x_coco (see _base_/retinanet_moganet_1x.py)
_base_ = './_base_/retinanet_moganet_1x.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_base_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[64, 160, 320, 512]))
