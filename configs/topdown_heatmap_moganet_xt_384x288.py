# Top-down heatmap | MogaNet-XT (ImageNet-1K) | COCO keypoints | 384x288 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_xt_coco_384x288): 5.6M params, 4.2G FLOPs at 384x288,
# 74.7 AP, 90.1 AP50, 81.3 AP75, 79.9 AR (COCO val2017, detected person boxes, flip test)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_384x288.py', './_base_/backbones/moganet_xt.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
