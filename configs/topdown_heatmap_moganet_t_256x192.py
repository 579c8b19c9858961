# Top-down heatmap | MogaNet-T (ImageNet-1K) | COCO keypoints | 256x192 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_t_coco_256x192): 8.1M params, 2.2G FLOPs at 256x192,
# 73.2 AP, 90.1 AP50, 81.0 AP75, 78.8 AR (COCO val2017, detected person boxes, flip test)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_256x192.py', './_base_/backbones/moganet_t.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.15,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
