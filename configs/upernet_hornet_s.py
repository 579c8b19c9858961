# UperNet 160K | HorNet-S 7x7 (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 2 images  (HorNet
# paper, Table 2)
# paper: 49.2 mIoU, 49.8 mIoU (ms+flip), 81M params, 1030G FLOPs at 2048x512
# recipe: the official upernet_hornet_small_7x7_512_160k_ade20k (see _base_/upernet_hornet_160k.py):
# drop path 0.3; stage-wise LR decay 0.9 over num_layers 12; weights: the "Pretrained Model" file of
# the official segmentation README. The same model and recipe as upernet_hornet_s_fpn.py (the
# FPN baseline of the HorFPN study, Table 3), which loads the ImageNet release instead
_base_ = [
    './_base_/upernet_hornet_160k.py', './_base_/ade20k_512x512.py',
    './_base_/backbones/hornet_s_7x7.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
