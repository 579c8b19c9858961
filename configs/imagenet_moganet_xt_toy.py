# Image classification | MogaNet-XT from scratch | built-in toy shapes (square / circle / triangle,
# 64x64, mmpretrain CustomDataset folder layout) | CPU
# The CPU-sized version of configs/imagenet_moganet_xt.py: the same classifier (official MogaNet
# head layout), optimizer and LR schedule shape, with 3 classes, small images, no Mixup / CutMix
# and a short schedule. Chance level is 1/3 top-1.
# Data: python tools/misc/make_toy_data.py --tasks cls   (writes data/toy/cls/{train,val}/<class>/)
_base_ = ['./_base_/imagenet_moganet_light.py', './_base_/backbones/moganet_xt.py']

classes = ('circle', 'square', 'triangle')  # CustomDataset's order: sorted folder names
data_preprocessor = dict(num_classes=len(classes))
model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.),
    head=dict(num_classes=len(classes), in_channels=_base_.variant.channels[-1]),
    train_cfg=None)

data_root = 'data/toy/cls/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.6, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
# num_workers=0: data loading in the training process (2 CPU cores)
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        classes=classes,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=45,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        classes=classes,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 15
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
auto_scale_lr = dict(base_batch_size=32)
