# Top-down heatmap | MogaNet-XT (ImageNet-1K) | COCO keypoints | 256x192 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_xt_coco_256x192): 5.6M params, 1.8G FLOPs at 256x192,
# 72.1 AP, 89.7 AP50, 80.1 AP75, 77.7 AR (COCO val2017, detected person boxes, flip test)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_256x192.py', './_base_/backbones/moganet_xt.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))
