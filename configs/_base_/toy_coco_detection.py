# Data, schedule and runtime of the CPU-sized detection jobs on the built-in toy COCO (coloured
# shapes, 3 classes, 160x160; python tools/misc/make_toy_data.py --tasks coco writes data/toy/coco),
# as in configs/mask_rcnn_moganet_xt_toy.py: 4 images per batch, AdamW 2e-3 with warm-up and
# cosine decay, no weight decay on norms and scales, evaluation at the end. Leaves add a model
# (thin neck and heads, 3 classes) and set the epochs.
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

data_root = 'data/toy/coco/'
metainfo = dict(
    classes=('square', 'circle', 'triangle'), palette=[(220, 60, 50), (50, 190, 70), (60, 90, 230)])
image_size = (160, 160)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

max_epochs = 6
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        eta_min_ratio=0.01,
        convert_to_iter_based=True),
]
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'layer_scale': dict(decay_mult=0.),
        'scale': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
    }),
    clip_grad=dict(max_norm=10.))
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))  # see docs/faults.md
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=4)
