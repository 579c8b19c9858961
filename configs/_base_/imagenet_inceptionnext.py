# ImageNet-1K classification with InceptionNeXt, the official recipe (scripts/inceptionnext/
# train_inceptionnext_{tiny,small,base}.sh and the timm train.py defaults of the official code):
# AdamW lr 4e-3 for a batch of 4096 (8 GPUs x 128 x 4 accumulation steps), wd 0.05, 20 warmup
# epochs from 1e-6, cosine to 1e-5, 300 epochs, RandAugment rand-m9-mstd0.5-inc1, random erasing
# 0.25, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, no EMA, no gradient clipping, evaluation at
# crop_pct 0.875 (bicubic). Rows set drop path (T 0.1, S 0.3, B 0.4).
# The classifier is the official MlpHead (GAP, fc1, GELU, LayerNorm, fc2; fc1 and the norm live in
# the backbone's classification form): OfficialImageClassifier loads the released files as they are.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    type='OfficialImageClassifier',
    backbone=dict(
        type='InceptionNeXt',
        arch='tiny',
        out_indices=(3, ),
        with_cls_head=True,
        drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=2304,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                             dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(
    optimizer=dict(lr=4e-3, weight_decay=0.05), clip_grad=None, accumulative_counts=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=2.5e-4, by_epoch=True, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20),
]
auto_scale_lr = dict(base_batch_size=4096)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
