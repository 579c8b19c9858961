# HorNet-L: ImageNet-22K pre-trained backbone fine-tuned on ImageNet-1K at 384x384, the official
# recipe (HorNet TRAINING.md, "Finetuning ImageNet-22K Models to ImageNet-1K"): AdamW lr 5e-5 for a
# batch of 512 (4 nodes x 8 GPUs x 16), wd 1e-8, no warmup, cosine, 30 epochs, layer-wise LR decay
# 0.7, drop path 0.4, gradient clipping 1, no Mixup / CutMix, EMA 0.9999, label smoothing 0.1;
# evaluation at crop_pct 1.0 (resize to 384x384).
# The layer-decay ids are HorNet's official ones (BackboneLayerDecayOptimWrapperConstructor with
# 12 layers; the classification code's ConvNeXt-style ids differ slightly); the 22K head is not
# mapped to 1K classes through in1k_to_21k_map.pth as the official fine-tuning does: the new head
# starts from the official init.
_base_ = './imagenet_hornet.py'

model = dict(backbone=dict(drop_path_rate=0.4), train_cfg=None)  # arch: the leaves' variant
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(384, 384), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(lr=5e-5, weight_decay=1e-8),
    clip_grad=dict(max_norm=1.0),
    paramwise_cfg=dict(_delete_=True, decay_rate=0.7, decay_type='layer_wise', num_layers=12))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0)]
train_cfg = dict(max_epochs=30)
auto_scale_lr = dict(base_batch_size=512)
