# Semantic FPN | MogaNet-XT from scratch | built-in toy ADE20K (coloured shapes on smooth
# backgrounds, 4 classes after reduce_zero_label, 128x128 images)
# The CPU-sized version of the ADE20K jobs: the same model types, dataset layout (ADE20K's
# images/ + annotations/ folders, label 0 ignored) and evaluator as the full configs, with a
# thinner FPN and head and a short iteration-based schedule (validation every 100 iterations), so
# it trains in minutes on 2 CPU cores.
# Data: python tools/misc/make_toy_data.py --tasks ade20k   (writes data/toy/ade20k)
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/backbones/moganet_xt.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

image_size = (128, 128)
crop_size = (64, 64)  # training crops: a quarter of the pixels, 4x cheaper steps
channels = 64
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True, type='MogaNet', arch=_base_.variant.arch, out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=_base_.variant.channels, out_channels=channels),
    decode_head=dict(in_channels=[channels] * 4, channels=32, num_classes=4))

data_root = 'data/toy/ade20k/'
metainfo = dict(
    classes=('background', 'square', 'circle', 'triangle'),
    palette=[(0, 0, 0), (255, 230, 0), (255, 0, 255), (0, 255, 255)])  # contrast: visible masks
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
# ms+flip (tools/test.py --tta): the test scale times 0.75 / 1 / 1.25, each with and without flip
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale=(int(128 * r), int(128 * r)), keep_ratio=True)
                for r in (0.75, 1.0, 1.25)
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations', reduce_zero_label=True)],
            [dict(type='PackSegInputs')],
        ]),
]
# num_workers=0: data loading in the training process, so a resumed run draws the same samples
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        **dataset,
        pipeline=train_pipeline,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training')))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        **dataset,
        pipeline=test_pipeline,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation')))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 200
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'layer_scale': dict(decay_mult=0.),
        'scale': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=50, end=max_iters, by_epoch=False),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=2),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))  # see docs/faults.md
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
