# Mask R-CNN 1x | HorNet-S 7x7 + FPN | COCO  (HorNet paper, Table 3)
# paper: 47.1 box AP, 42.2 mask AP, 69M params, 351G FLOPs
# recipe: the official HorFPN recipe (see _base_/horfpn_mask_rcnn_hornet_s_1x.py)
_base_ = './_base_/horfpn_mask_rcnn_hornet_s_1x.py'
