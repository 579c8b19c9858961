# Mask R-CNN 1x | ResNet-101 + FPN | COCO  (HorNet paper, Table 3)
# paper: 40.0 box AP, 36.1 mask AP, 63M params, 336G FLOPs
# recipe: mmdet's own recipe (SGD 0.02, single scale, 8 GPUs x 2 images)
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
