# Mask R-CNN 1x | Swin-S + FPN | COCO  (HorNet paper, Table 3)
# paper: 45.5 box AP, 40.9 mask AP, 69M params, 354G FLOPs
# recipe: mmdet's Swin-T 1x recipe with Swin-S (see _base_/horfpn_mask_rcnn_swin_s_1x.py)
_base_ = './_base_/horfpn_mask_rcnn_swin_s_1x.py'
