# UperNet | HorNet-S 7x7 + FPN | ADE20K 512x512  (HorNet paper, Table 3)
# paper: 49.2 mIoU, 49.8 mIoU (ms+flip), 81M params, 1030G FLOPs
# recipe: the official HorFPN recipe (see _base_/horfpn_upernet_hornet_s_160k.py)
_base_ = './_base_/horfpn_upernet_hornet_s_160k.py'
