# HorNet-S (7x7) UperNet 160K on ADE20K of the HorFPN study (HorNet paper, Table 3), as in the
# official semantic_segmentation/configs/horfpn/*: mmseg's UperNet (channels 512, SyncBN) with an
# FCN auxiliary head on stage 3, 512x512 crops, 8 GPUs x 2 images, AdamW 1e-4 wd 0.05 with
# stage-wise LR decay 0.9 over num_layers 12, poly (power 1) after a 1500-iteration linear warmup,
# drop path 0.3, sliding-window test (crop 512, stride 341). Leaves set the decode head.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmmoga.HorNet',
        arch='small',
        mixer='dw',
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://cloud.tsinghua.edu.cn/f/8ef64277da0e469ea857/?dl=1')),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=12))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
