# ImageNet-1K classification with MogaNet, the official recipe (MogaNet TRAINING.md, timm train.py
# defaults) for S/B/L/XL: AdamW lr 1e-3 for a batch of 1024 (8 GPUs x 128), 5 warmup epochs from
# lr 1e-5, cosine to 1e-5, 300 epochs, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, no weight decay on 1-D parameters and biases (as
# timm), no gradient clipping, EMA 0.9999, evaluation at crop_pct 0.9 (bicubic).
# The classifier is the official one (GAP of norm4, then `head`): OfficialImageClassifier loads the
# released .pth.tar files as they are (tools/test.py CONFIG <release>).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    type='OfficialImageClassifier',
    backbone=dict(type='MogaNet', arch='small', out_indices=(3, ), drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                             dict(type='CutMix', alpha=1.0)]))

# crop_pct 0.9: resize the short side to int(224 / 0.9) = 248, then centre-crop 224
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=248, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05), clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5),
]
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=1024)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
