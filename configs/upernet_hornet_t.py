# UperNet 160K | HorNet-T 7x7 (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 2 images  (HorNet
# paper, Table 2)
# paper: 48.1 mIoU, 48.9 mIoU (ms+flip), 52M params, 926G FLOPs at 2048x512
# recipe: the official upernet_hornet_tiny_7x7_512_160k_ade20k (see _base_/upernet_hornet_160k.py):
# drop path 0.4; stage-wise LR decay 0.9 over num_layers 6; weights: the "Pretrained Model" file of
# the official segmentation README
_base_ = [
    './_base_/upernet_hornet_160k.py', './_base_/ade20k_512x512.py',
    './_base_/backbones/hornet_t_7x7.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.9, num_layers=6))
