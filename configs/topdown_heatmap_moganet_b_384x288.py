# Top-down heatmap | MogaNet-B (ImageNet-1K) | COCO keypoints | 384x288 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_b_coco_384x288): 47.4M params, 24.4G FLOPs at 384x288,
# 77.3 AP, 91.4 AP50, 84.0 AP75, 82.2 AR (COCO val2017, detected person boxes, flip test)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_384x288.py', './_base_/backbones/moganet_b.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
