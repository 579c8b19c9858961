# RetinaNet | MogaNet-XT from scratch | built-in toy COCO (coloured shapes, 3 classes, 160x160)
# The CPU-sized version of configs/retinanet_moganet_*.py: the same detector types and data format,
# a 64-channel FPN (P3-P7, extra convs on the input) and a 2-conv head, a short schedule.
# Data: python tools/misc/make_toy_data.py --tasks coco   (writes data/toy/coco)
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    './_base_/toy_coco_detection.py',
    './_base_/backbones/moganet_xt.py',
]

channels = 64
model = dict(
    backbone=dict(
        _delete_=True, type='MogaNet', arch=_base_.variant.arch, out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=_base_.variant.channels, out_channels=channels),
    bbox_head=dict(num_classes=3, in_channels=channels, feat_channels=channels, stacked_convs=2),
    test_cfg=dict(nms_pre=500, max_per_img=20))

# boxes only
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale={{_base_.image_size}}, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale={{_base_.image_size}}, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator
