# ImageNet-1K classification with HorNet, the official recipe (HorNet TRAINING.md on the ConvNeXt
# training code): AdamW lr 4e-3 for a batch of 4096 (4 nodes x 8 GPUs x 128), wd 0.05, 20 warmup
# epochs, cosine to 1e-6, 300 epochs, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, no weight decay on 1-D parameters and biases,
# EMA 0.9999, evaluation at crop_pct 0.875 (bicubic). Rows set drop path and gradient clipping.
# The classifier is the official one (final LayerNorm `norm` on the pooled stage 4, then `head`):
# OfficialImageClassifier loads the released files as they are (tools/test.py CONFIG <release>).
# mmpretrain has its own HorNet (other key names): `mmmoga.HorNet` is this package's.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    type='OfficialImageClassifier',
    backbone=dict(
        type='mmmoga.HorNet',
        arch='tiny',
        mixer='dw',
        out_indices=(3, ),
        with_cls_head=True,
        drop_path_rate=0.2),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                             dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=4e-3, weight_decay=0.05), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=20),
]
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=4096)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
