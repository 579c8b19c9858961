# HorNet UperNet 160K on ADE20K, the recipe of the official semantic_segmentation/configs/hornet/*
# (HorNet paper, Table 2): mmseg's UperNet (UPerHead channels 512, SyncBN) with an FCN auxiliary
# head on stage 3, 8 GPUs x 2 images, AdamW 1e-4 wd 0.05 with stage-wise LR decay 0.9 over
# num_layers 12, poly (power 1) after a 1500-iteration linear warmup, sliding-window test (crop
# 512, stride 341). No data here: a leaf adds ./ade20k_512x512.py or ./ade20k_640x640.py and sets
# the arch, mixer, drop path, weights and head widths.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(size=(512, 512)),
    pretrained=None,
    backbone=dict(_delete_=True, type='mmmoga.HorNet', out_indices=(0, 1, 2, 3)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=12))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
