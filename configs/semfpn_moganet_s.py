# Semantic FPN 80K | MogaNet-S (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 4 images
# paper (MogaNet segmentation README / paper): 29.1M params, 189.7G FLOPs at 2048x512,
# 47.7 mIoU, 59.8 mAcc (single scale)
# recipe: the official fpn_moganet_small_80k_ade20k (see _base_/semfpn_moganet_80k.py),
# drop path 0.1, AlignResize test
_base_ = './_base_/semfpn_moganet_80k.py'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_small_sz224_8xbs128_ep300.pth.tar')),
    neck=dict(in_channels=[64, 128, 320, 512]))
