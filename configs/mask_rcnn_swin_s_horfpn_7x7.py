# Mask R-CNN 1x | Swin-S + HorFPN 7x7 | COCO  (HorNet paper, Table 3)
# paper: 46.3 box AP, 41.1 mask AP, 68M params, 325G FLOPs
# recipe: mmdet's Swin-T 1x recipe with Swin-S (see _base_/horfpn_mask_rcnn_swin_s_1x.py)
# neck: mmdet FPN with order-2 gnConv output convs (mmmoga HorFPN), max-pool P6
_base_ = './_base_/horfpn_mask_rcnn_swin_s_1x.py'

model = dict(
    neck=dict(type='HorFPN', gnconv_cfg=dict(mixer='dw', kernel_size=7, order=2, proj_out=True)))
