# UperNet 160K | MogaNet-T (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 2 images
# paper (MogaNet segmentation README / paper): 33.1M params, 862.4G FLOPs at 2048x512,
# 43.7 mIoU, 57.1 mAcc (single scale)
# recipe: the official upernet_moganet_tiny_512x512_160k_ade20k (see
# _base_/upernet_moganet_160k.py), drop path 0.1, AlignResize test
_base_ = [
    './_base_/upernet_moganet_160k.py', './_base_/ade20k_512x512_alignresize.py',
    './_base_/backbones/moganet_t.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
