# Top-down heatmap | MogaNet-S (ImageNet-1K) | COCO keypoints | 256x192 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_s_coco_256x192): 29.0M params, 6.0G FLOPs at 256x192,
# 74.9 AP, 90.7 AP50, 82.8 AP75, 80.1 AR (COCO val2017, detected person boxes, flip test)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_256x192.py', './_base_/backbones/moganet_s.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
