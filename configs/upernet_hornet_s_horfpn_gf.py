# UperNet | HorNet-S 7x7 + HorFPN GF | ADE20K 512x512  (HorNet paper, Table 3)
# paper: 49.7 mIoU, 50.3 mIoU (ms+flip), 75M params, 575G FLOPs
# recipe: the official HorFPN recipe (see _base_/horfpn_upernet_hornet_s_160k.py)
# head: UPerHead whose fpn_bottleneck is an order-2 gnConv module followed by the head's
# SyncBN + ReLU (mmmoga HorUPerHead)
_base_ = './_base_/horfpn_upernet_hornet_s_160k.py'

model = dict(
    decode_head=dict(
        type='HorUPerHead', gnconv_cfg=dict(mixer='gf', gf_size=(32, 17), order=2, proj_out=True)))
# official: gradient clipping for the GF head only
optim_wrapper = dict(clip_grad=dict(max_norm=0.1, norm_type=2))
