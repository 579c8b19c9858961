# UperNet 160K | MogaNet-L (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 2 images
# paper (MogaNet segmentation README / paper): 113.2M params, 1176.1G FLOPs at 2048x512,
# 50.9 mIoU, 63.5 mAcc (single scale)
# recipe: the official upernet_moganet_large_512x512_160k_ade20k (see
# _base_/upernet_moganet_160k.py), drop path 0.3, AlignResize test
_base_ = [
    './_base_/upernet_moganet_160k.py', './_base_/ade20k_512x512_alignresize.py',
    './_base_/backbones/moganet_l.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
