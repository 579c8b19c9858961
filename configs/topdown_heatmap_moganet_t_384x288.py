# Top-down heatmap | MogaNet-T (ImageNet-1K) | COCO keypoints | 384x288 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_t_coco_384x288): 8.1M params, 4.9G FLOPs at 384x288,
# 75.7 AP, 90.6 AP50, 82.6 AP75, 80.9 AR (COCO val2017, detected person boxes, flip test)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_384x288.py', './_base_/backbones/moganet_t.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.15,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
