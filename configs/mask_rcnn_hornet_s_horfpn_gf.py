# Mask R-CNN 1x | HorNet-S 7x7 + HorFPN GF | COCO  (HorNet paper, Table 3)
# paper: 47.7 box AP, 42.4 mask AP, 68M params, 321G FLOPs
# recipe: the official HorFPN recipe (see _base_/horfpn_mask_rcnn_hornet_s_1x.py)
# neck: mmdet FPN with order-2 gnConv output convs (mmmoga HorFPN), max-pool P6
_base_ = './_base_/horfpn_mask_rcnn_hornet_s_1x.py'

model = dict(
    neck=dict(type='HorFPN', gnconv_cfg=dict(mixer='gf', gf_size=(32, 17), order=2, proj_out=True)))
