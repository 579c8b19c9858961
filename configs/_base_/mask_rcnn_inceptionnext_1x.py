# InceptionNeXt Mask R-CNN 1x on COCO. No paper figure and no official detection code exist; these
# are the first detection configs for InceptionNeXt, on ConvNeXt's Mask R-CNN optimizer (as mmdet's
# ConvNeXt-T config: AdamW lr 1e-4 wd 0.05, layer-wise LR decay 0.95, mixed precision; num_layers 6
# for T, 12 for S/B as ConvNeXt-T/S/B) with mmdet's standard 1x schedule (12 epochs, steps 8, 11,
# warm-up 500) and single-scale 1333x800 pipeline, so the rows compare with the other families' 1x
# rows. 2 images/GPU x 8 GPUs. Backbone as the InceptionNeXt authors ran it for dense prediction
# (sail-sg/inceptionnext#11): SyncBN in the trunk plus a new SyncBN on each output. Drop path: the
# authors' UperNet values (T/S/B 0.2/0.3/0.4; our choice, none published for detection).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='InceptionNeXt',
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN'),
        out_norm_cfg=dict(type='SyncBN')))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise', num_layers=6))

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
