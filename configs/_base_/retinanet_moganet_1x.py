# MogaNet RetinaNet 1x on COCO, as in the official detection configs (MogaNet paper, RetinaNet 1x
# table): mmdet's RetinaNet + FPN (P3-P7 from stages 2-4, extra convs on the input), single-scale
# 1333x800, 2 images/GPU x 8 GPUs, 1x schedule (steps 8, 11, warmup 500), AdamW lr 1e-4 wd 0.05 with
# no weight decay on norms, layer scales and MogaNet's sigma scales. The official base also passes
# frozen_stages=1 / norm_eval=True, which the official backbone silently ignores (its released
# numbers were trained with neither), so they are left out here. Leaves set arch, drop path, FPN
# inputs and weights.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='MogaNet', out_indices=(0, 1, 2, 3)))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
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
