# Top-down heatmap | MogaNet-S (ImageNet-1K) | COCO keypoints | 384x288 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_s_coco_384x288): 29.0M params, 13.5G FLOPs at 384x288,
# 76.4 AP, 91.0 AP50, 83.3 AP75, 81.4 AR (COCO val2017, detected person boxes, flip test)
_base_ = './_base_/topdown_heatmap_moganet_coco_384x288.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_small_sz224_8xbs128_ep300.pth.tar')),
    head=dict(in_channels=512))

# the official run of this row (only this one) trained in fp16 with a dynamic loss scale
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
