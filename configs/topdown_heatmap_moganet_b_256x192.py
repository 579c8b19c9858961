# Top-down heatmap | MogaNet-B (ImageNet-1K) | COCO keypoints | 256x192 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_b_coco_256x192): 47.4M params, 10.9G FLOPs at 256x192,
# 75.3 AP, 90.9 AP50, 83.3 AP75, 80.7 AR (COCO val2017, detected person boxes, flip test)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_256x192.py', './_base_/backbones/moganet_b.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
