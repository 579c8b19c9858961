# ImageNet-1K | MogaNet-XT | 256x256 | 8 GPUs x 128 images, 300 epochs
# paper (MogaNet ImageNet table; README): 2.97M params, 1.04G FLOPs at 256, 77.2 top-1
# release: https://github.com/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/
#   moganet_xtiny_sz256_8xbs128_ep300.pth.tar
# imagenet_moganet_xt.py trained and evaluated at 256 (crop_pct 0.9: resize to int(256 / 0.9) = 284)
_base_ = './imagenet_moganet_xt.py'

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=256, backend='pillow', interpolation='bicubic'),
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=284, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
