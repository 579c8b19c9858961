# Cascade Mask R-CNN, GIoU conv-fc heads | MogaNet-XT from scratch | built-in toy COCO (coloured
# shapes, 3 classes, 160x160)
# The CPU-sized version of configs/cascade_mask_rcnn_*_giou_4conv1f_3x.py: the same detector, head
# and loss types (ConvFCBBoxHead with SyncBN -- plain BN in a single process --, GIoU on decoded
# boxes, class-specific regression), thinned to 64 channels, 2 shared convs per box head and a short
# schedule.
# Data: python tools/misc/make_toy_data.py --tasks coco   (writes data/toy/coco)
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    './_base_/toy_coco_detection.py',
    './_base_/backbones/moganet_xt.py',
]

channels = 64
box_head = dict(
    type='ConvFCBBoxHead',
    num_shared_convs=2,
    num_shared_fcs=1,
    in_channels=channels,
    conv_out_channels=channels,
    fc_out_channels=256,
    roi_feat_size=7,
    num_classes=3,
    reg_class_agnostic=False,
    reg_decoded_bbox=True,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
rcnn_sampler = dict(
    type='RandomSampler', num=128, pos_fraction=0.25, neg_pos_ub=-1, add_gt_as_proposals=True)
model = dict(
    backbone=dict(
        _delete_=True, type='MogaNet', arch=_base_.variant.arch, out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=_base_.variant.channels, out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=[
            dict(
                box_head,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0.] * 4,
                    target_stds=[0.1, 0.1, 0.2, 0.2])),
            dict(
                box_head,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0.] * 4,
                    target_stds=[0.05, 0.05, 0.1, 0.1])),
            dict(
                box_head,
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[0.] * 4,
                    target_stds=[0.033, 0.033, 0.067, 0.067])),
        ],
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(
            num_convs=2, in_channels=channels, conv_out_channels=channels, num_classes=3)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=[
            dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=thr,
                    neg_iou_thr=thr,
                    min_pos_iou=thr,
                    match_low_quality=False,
                    ignore_iof_thr=-1),
                sampler=rcnn_sampler,
                mask_size=28,
                pos_weight=-1,
                debug=False) for thr in (0.5, 0.6, 0.7)
        ]),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(max_per_img=20)))
