# ImageNet-1K | HorNet-S (GF) | 224x224 | 4 nodes x 8 GPUs x 64 images x 2 accumulation steps
# paper (HorNet Table 1 / README): 50M params, 8.7G FLOPs, 84.0 top-1
# release (Tsinghua Cloud): https://cloud.tsinghua.edu.cn/f/959603ca287d4c09ad49/?dl=1
_base_ = ['./_base_/imagenet_hornet.py', './_base_/backbones/hornet_s_gf.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, mixer=_base_.variant.mixer, drop_path_rate=0.4),
    head=dict(in_channels=_base_.variant.channels[-1]))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0), accumulative_counts=2)
# RandAugment rand-m12-mstd0.5-inc1 for this row (TRAINING.md)
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
        magnitude_level=12,
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
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
