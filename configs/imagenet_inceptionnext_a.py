# ImageNet-1K | InceptionNeXt-A (atto) | 224x224 | 4 GPUs x 320 images, 600 epochs
# paper (InceptionNeXt Table 3): 4.2M params, 0.51G MACs, 75.3 top-1
# release: https://github.com/sail-sg/inceptionnext/releases/download/model/inceptionnext_atto.pth
# Recipe: scripts/inceptionnext/train_inceptionnext_atto.sh (light augmentation): AdamW lr 1e-3
# for a batch of 1280, 5 warmup epochs from 5e-7, cosine to 5e-7, 600 epochs, drop path 0.1 (the
# script's intent; it passes $DATA_PATH by mistake), RandAugment rand-m5-inc1-mstd101 (uniform
# magnitude), no colour jitter, Mixup 0.2 / CutMix 1.0, random erasing 0.1.
_base_ = ['./_base_/imagenet_inceptionnext.py', './_base_/backbones/inceptionnext_a.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.1),
    head=dict(in_channels=960),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.2),
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
        magnitude_level=5,
        magnitude_std='inf',
        hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.1,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=320, dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(lr=1e-3), accumulative_counts=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=5e-4, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=5e-7, by_epoch=True, begin=5),
]
train_cfg = dict(max_epochs=600)
auto_scale_lr = dict(base_batch_size=1280)
