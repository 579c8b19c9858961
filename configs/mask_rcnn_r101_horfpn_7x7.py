# Mask R-CNN 1x | ResNet-101 + HorFPN 7x7 | COCO  (HorNet paper, Table 3)
# paper: 40.3 box AP, 36.4 mask AP, 62M params, 302G FLOPs
# recipe: mmdet's own recipe (SGD 0.02, single scale, 8 GPUs x 2 images)
# neck: mmdet FPN with order-2 gnConv output convs (mmmoga HorFPN), max-pool P6
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    neck=dict(type='HorFPN', gnconv_cfg=dict(mixer='dw', kernel_size=7, order=2, proj_out=True)))

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
