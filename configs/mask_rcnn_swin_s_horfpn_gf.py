# Mask R-CNN 1x | Swin-S + HorFPN GF | COCO  (HorNet paper, Table 3)
# paper: 46.8 box AP, 41.9 mask AP, 69M params, 323G FLOPs
# recipe: mmdet's Swin-T 1x recipe with Swin-S (see _base_/horfpn_mask_rcnn_swin_s_1x.py)
# neck: mmdet FPN with order-2 gnConv output convs (mmmoga HorFPN), max-pool P6
_base_ = './_base_/horfpn_mask_rcnn_swin_s_1x.py'

model = dict(
    neck=dict(type='HorFPN', gnconv_cfg=dict(mixer='gf', gf_size=(32, 17), order=2, proj_out=True)))
