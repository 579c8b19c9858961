# Mask R-CNN | MogaNet-XT from scratch | built-in toy COCO (coloured shapes, 3 classes, 160x160)
# The CPU-sized version of the headline job: same model types and data format as the COCO configs,
# with a thinner neck/heads and a short schedule, so it trains in minutes on 2 CPU cores.
# Data: python tools/misc/make_toy_data.py --tasks coco   (writes data/toy/coco)
# Data, schedule and runtime: configs/_base_/toy_coco_detection.py (shared by the toy detectors).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './_base_/toy_coco_detection.py',
    './_base_/backbones/moganet_xt.py',
]

channels = 64
model = dict(
    backbone=dict(
        _delete_=True, type='MogaNet', arch=_base_.variant.arch, out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=_base_.variant.channels, out_channels=channels),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, fc_out_channels=256, num_classes=3),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(
            num_convs=2, in_channels=channels, conv_out_channels=channels, num_classes=3)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=1000, max_per_img=500),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300), rcnn=dict(max_per_img=20)))
