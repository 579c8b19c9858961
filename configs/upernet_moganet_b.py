# UperNet 160K | MogaNet-B (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 2 images
# paper (MogaNet segmentation README / paper): 73.7M params, 1050.4G FLOPs at 2048x512,
# 50.1 mIoU, 63.4 mAcc (single scale)
# recipe: the official upernet_moganet_base_512x512_160k_ade20k (see
# _base_/upernet_moganet_160k.py), drop path 0.2, AlignResize test
_base_ = ['./_base_/upernet_moganet_160k.py', './_base_/ade20k_512x512_alignresize.py']

model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.2,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/Westlake-AI/MogaNet/releases/download/'
            'moganet-in1k-weights/moganet_base_sz224_8xbs128_ep300.pth.tar')),
    decode_head=dict(in_channels=[64, 160, 320, 512]),
    auxiliary_head=dict(in_channels=320))
