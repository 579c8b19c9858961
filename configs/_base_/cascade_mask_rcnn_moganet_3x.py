# MogaNet Cascade Mask R-CNN MS 3x (plain heads) on COCO, as in the official
# cascade_mask_rcnn_moganet_s_fpn_ms_3x_coco: mmdet's Cascade Mask R-CNN + FPN (three Shared2FC box
# heads, SmoothL1, class-agnostic regression), the DETR / Sparse R-CNN multi-scale AutoAugment
# pipeline, 2 images/GPU x 8 GPUs, 36 epochs (steps 27, 33; linear warm-up 500 iterations from
# 0.001), fp32, AdamW lr 2e-4 wd 0.05 with no weight decay on norms, layer scales and MogaNet's
# sigma scales.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='MogaNet', out_indices=(0, 1, 2, 3)))

# augmentation strategy originates from DETR / Sparse R-CNN (official: mmdet 2.x AutoAugment)
multi_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333),
                (672, 1333), (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=multi_scales, keep_ratio=True)],
            [
                dict(
                    type='RandomChoiceResize',
                    scales=[(400, 1333), (500, 1333), (600, 1333)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(384, 600),
                    allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=multi_scales, keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
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
