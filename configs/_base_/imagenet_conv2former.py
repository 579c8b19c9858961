# ImageNet-1K classification with Conv2Former, the official recipe (Conv2Former paper Sec. 4.1 and
# Appendix A.1; train.sh and the timm train.py defaults of the official code): AdamW lr 1e-3 for a
# batch of 1024 (8 GPUs x 128), wd 0.05, 5 warmup epochs from 1e-6, cosine to 1e-6, 300 epochs,
# RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, Mixup 0.8 / CutMix 1.0, label smoothing
# 0.1, no EMA and no layer-wise decay (the paper: neither helped). Rows set drop path (Table 10).
# Normalisation and evaluation crop come from timm's ViT `_cfg`, which the official model sets as
# its default_cfg: mean = std = 0.5 (127.5 on 0..255 pixels), crop_pct 0.9, bicubic.
# The classifier is the official one (`head` = conv 1x1 -> GELU -> LN before the pooling, then
# `pred`): OfficialImageClassifier loads the released files as they are.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
model = dict(
    type='OfficialImageClassifier',
    backbone=dict(
        type='Conv2Former', arch='tiny', out_indices=(3, ), with_cls_head=True,
        drop_path_rate=0.15),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1280,
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
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=5),
]
auto_scale_lr = dict(base_batch_size=1024)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
