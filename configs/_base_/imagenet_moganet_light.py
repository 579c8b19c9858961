# The MogaNet-XT/T ImageNet-1K recipe (MogaNet TRAINING.md): imagenet_moganet.py with lighter
# augmentation (RandAugment rand-m7-mstd0.5-inc1, Mixup 0.1 / CutMix 1.0), the timm default
# minimum LR 1e-6 and no EMA.
_base_ = './imagenet_moganet.py'

model = dict(
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.1),
                             dict(type='CutMix', alpha=1.0)]))
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=7,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=5),
]
custom_hooks = []
