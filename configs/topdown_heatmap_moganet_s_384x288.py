# Top-down heatmap | MogaNet-S (ImageNet-1K) | COCO keypoints | 384x288 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_s_coco_384x288): 29.0M params, 13.5G FLOPs at 384x288,
# 76.4 AP, 91.0 AP50, 83.3 AP75, 81.4 AR (COCO val2017, detected person boxes, flip test)
_base_ = ['./_base_/topdown_heatmap_moganet_coco_384x288.py', './_base_/backbones/moganet_s.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    head=dict(in_channels=_base_.variant.channels[-1]))

# the official run of this row (only this one) trained in fp16 with a dynamic loss scale
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
