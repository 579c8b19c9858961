# Mask R-CNN 1x | ResNet-50 + HorFPN GF | COCO  (HorNet paper, Table 3)
# paper: 39.1 box AP, 35.5 mask AP, 43M params, 224G FLOPs
# recipe: mmdet's own recipe (SGD 0.02, single scale, 8 GPUs x 2 images)
# neck: mmdet FPN with order-2 gnConv output convs (mmmoga HorFPN), max-pool P6
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    neck=dict(type='HorFPN', gnconv_cfg=dict(mixer='gf', gf_size=(32, 17), order=2, proj_out=True)))

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
