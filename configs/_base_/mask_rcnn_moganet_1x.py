# MogaNet Mask R-CNN 1x on COCO, as in the official detection configs (MogaNet paper, Table 5):
# mmdet's Mask R-CNN + FPN, 2 images/GPU x 8 GPUs, 1x schedule, AdamW with no weight decay on
# norms, layer scales and MogaNet's sigma scales. Each row sets the arch, drop path, FPN inputs
# and LR.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='MogaNet', out_indices=(0, 1, 2, 3)))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'layer_scale': dict(decay_mult=0.),
        'scale': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
    }))

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
