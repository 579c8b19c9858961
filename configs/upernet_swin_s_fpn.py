# UperNet | Swin-S + FPN | ADE20K 512x512  (HorNet paper, Table 3)
# paper: 47.6 mIoU, 49.5 mIoU (ms+flip), 81M params, 1038G FLOPs
# recipe: mmseg's Swin-S recipe (AdamW 6e-5 wd 0.01, 8 GPUs x 2 images)
_base_ = 'mmseg::swin/swin-small-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
