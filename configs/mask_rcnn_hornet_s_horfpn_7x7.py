# Mask R-CNN 1x | HorNet-S 7x7 + HorFPN 7x7 | COCO  (HorNet paper, Table 3)
# paper: 47.4 box AP, 42.3 mask AP, 68M params, 322G FLOPs
# recipe: the official HorFPN recipe (see _base_/horfpn_mask_rcnn_hornet_s_1x.py)
# neck: mmdet FPN with order-2 gnConv output convs (mmmoga HorFPN), max-pool P6
_base_ = './_base_/horfpn_mask_rcnn_hornet_s_1x.py'

model = dict(
    neck=dict(type='HorFPN', gnconv_cfg=dict(mixer='dw', kernel_size=7, order=2, proj_out=True)))
