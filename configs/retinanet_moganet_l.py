# RetinaNet 1x | MogaNet-L (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 92.4M params, 476.8 GFLOPs at 1280x800, 48.7 box AP
# recipe: official retinanet_moganet_large_fpn_1x_coco (see _base_/retinanet_moganet_1x.py)
_base_ = './_base_/retinanet_moganet_1x.py'

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_large_sz224_8xbs64_ep300.pth.tar')),
    neck=dict(in_channels=[64, 160, 320, 640]))
