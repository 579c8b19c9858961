# Mask R-CNN 1x | ResNet-50 + FPN | COCO  (HorNet paper, Table 3)
# paper: 38.2 box AP, 34.7 mask AP, 44M params, 260G FLOPs
# recipe: mmdet's own recipe (SGD 0.02, single scale, 8 GPUs x 2 images)
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
