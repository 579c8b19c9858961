# Mask R-CNN MS 3x | MogaNet-B (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper (official README): 63.4M params, 373.1 GFLOPs at 1280x800, 50.3 box AP, 44.4 mask AP
# drop path 0.3 as in the official 3x config (its 1x config uses 0.2)
# recipe: official mask_rcnn_moganet_b_fpn_mstrain_480-800_3x_coco
# (see _base_/mask_rcnn_moganet_3x.py)
_base_ = './_base_/mask_rcnn_moganet_3x.py'

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_base_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[64, 160, 320, 512]))
