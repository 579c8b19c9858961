# Top-down heatmap | MogaNet-S (ImageNet-1K) | COCO keypoints | 256x192 | 8 GPUs x 32 images
# paper (MogaNet pose README, moganet_s_coco_256x192): 29.0M params, 6.0G FLOPs at 256x192,
# 74.9 AP, 90.7 AP50, 82.8 AP75, 80.1 AR (COCO val2017, detected person boxes, flip test)
_base_ = './_base_/topdown_heatmap_moganet_coco_256x192.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_small_sz224_8xbs128_ep300.pth.tar')),
    head=dict(in_channels=512))
