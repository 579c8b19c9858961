# Mask R-CNN MS 3x | MogaNet-S (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper (official README): 45.0M params, 271.6 GFLOPs at 1280x800, 48.5 box AP, 43.1 mask AP
# recipe: official mask_rcnn_moganet_s_fpn_mstrain_480-800_3x_coco
# (see _base_/mask_rcnn_moganet_3x.py)
_base_ = './_base_/mask_rcnn_moganet_3x.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_small_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[64, 128, 320, 512]))
