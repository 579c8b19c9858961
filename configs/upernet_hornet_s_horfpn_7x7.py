# UperNet | HorNet-S 7x7 + HorFPN 7x7 | ADE20K 512x512  (HorNet paper, Table 3)
# paper: 49.4 mIoU, 50.1 mIoU (ms+flip), 74M params, 577G FLOPs
# recipe: the official HorFPN recipe (see _base_/horfpn_upernet_hornet_s_160k.py)
# head: UPerHead whose fpn_bottleneck is an order-2 gnConv module followed by the head's
# SyncBN + ReLU (mmmoga HorUPerHead)
_base_ = './_base_/horfpn_upernet_hornet_s_160k.py'

model = dict(
    decode_head=dict(
        type='HorUPerHead', gnconv_cfg=dict(mixer='dw', kernel_size=7, order=2, proj_out=True)))
