# UperNet 160K | MogaNet-L (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 2 images
# paper (MogaNet segmentation README / paper): 113.2M params, 1176.1G FLOPs at 2048x512,
# 50.9 mIoU, 63.5 mAcc (single scale)
# recipe: the official upernet_moganet_large_512x512_160k_ade20k (see
# _base_/upernet_moganet_160k.py), drop path 0.3, AlignResize test
_base_ = ['./_base_/upernet_moganet_160k.py', './_base_/ade20k_512x512_alignresize.py']

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.3,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_large_sz224_8xbs64_ep300.pth.tar')),
    decode_head=dict(in_channels=[64, 160, 320, 640]),
    auxiliary_head=dict(in_channels=320))
