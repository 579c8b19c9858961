# UperNet | Swin-S + HorFPN 7x7 | ADE20K 512x512  (HorNet paper, Table 3)
# paper: 48.0 mIoU, 49.2 mIoU (ms+flip), 74M params, 580G FLOPs
# recipe: mmseg's Swin-S recipe (AdamW 6e-5 wd 0.01, 8 GPUs x 2 images)
# head: UPerHead whose fpn_bottleneck is an order-2 gnConv module followed by the head's
# SyncBN + ReLU (mmmoga HorUPerHead)
_base_ = 'mmseg::swin/swin-small-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    decode_head=dict(
        type='HorUPerHead', gnconv_cfg=dict(mixer='dw', kernel_size=7, order=2, proj_out=True)))

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
