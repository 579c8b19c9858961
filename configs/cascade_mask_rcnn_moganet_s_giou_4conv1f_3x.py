# Cascade Mask R-CNN MS 3x, GIoU 4conv1f heads | MogaNet-S (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 78M params (82.8M in the official README), 750 GFLOPs at 1280x800 (README 750.2G),
# 51.6 box AP (README 51.7), 45.1 mask AP
# recipe: official cascade_mask_rcnn_moganet_s_fpn_giou_4conv1f_ms_3x_coco
# (see _base_/cascade_mask_rcnn_moganet_giou_4conv1f_3x.py)
_base_ = './_base_/cascade_mask_rcnn_moganet_giou_4conv1f_3x.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_small_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[64, 128, 320, 512]))
