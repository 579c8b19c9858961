# Top-down heatmap | MogaNet-XT from scratch | built-in toy COCO keypoints (stick figures with 17
# coloured joints, 192x192 images) | CPU
# The CPU-sized version of configs/topdown_heatmap_moganet_xt_256x192.py: the same model types,
# codec and data format, at 128x96 input with a thinner heatmap head (3 deconvs of 64) and a
# short schedule, evaluated with COCO keypoint AP on the ground-truth boxes.
# Data: python tools/misc/make_toy_data.py --tasks coco_pose   (writes data/toy/coco_pose)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_256x192.py', './_base_/backbones/moganet_xt.py']

codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=2)
model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0., init_cfg=None),
    head=dict(
        in_channels=_base_.variant.channels[-1], deconv_out_channels=(64, 64, 64), decoder=codec))

data_root = 'data/toy/coco_pose/'
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', rotate_factor=20., scale_factor=(0.8, 1.2)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
# num_workers=0: data loading in the training process (2 CPU cores)
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=20,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_val.json',
        bbox_file=None,
        data_prefix=dict(img='val/'),
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator

max_epochs = 40
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        eta_min_ratio=0.01,
        convert_to_iter_based=True),
]
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
auto_scale_lr = dict(base_batch_size=16)
