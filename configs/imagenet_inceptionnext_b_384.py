# ImageNet-1K | InceptionNeXt-B | 384x384 | fine-tuned from the 224 model, 30 epochs
# paper (InceptionNeXt Table 3): 87M params, 43.6G MACs, 85.2 top-1
# release: https://github.com/sail-sg/inceptionnext/releases/download/model/
#   inceptionnext_base_384.pth
# Recipe: scripts/inceptionnext/finetune_inceptionnext_base.sh: AdamW lr 5e-5 (constant) for a
# batch of 1024 (8 GPUs x 32 x 4 accumulation steps), 30 epochs, no Mixup / CutMix, EMA 0.9999,
# drop path 0.7, dropout 0.5 before fc2; evaluation at crop_pct 1.0.
_base_ = './imagenet_inceptionnext_b.py'

model = dict(backbone=dict(drop_path_rate=0.7, drop_rate=0.5), train_cfg=None)
# starts from the 224 model (the whole classifier)
load_from = ('https://github.com/sail-sg/inceptionnext/releases/download/model/'
             'inceptionnext_base.pth')
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
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=5e-5))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0)]
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
train_cfg = dict(max_epochs=30)
auto_scale_lr = dict(base_batch_size=1024)
