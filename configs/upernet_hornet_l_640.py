# UperNet 160K | HorNet-L 7x7 (ImageNet-22K) | ADE20K 640x640 | 8 GPUs x 2 images  (HorNet
# paper, Table 2)
# paper: 54.1 mIoU, 54.5 mIoU (ms+flip), 232M params, 2473G FLOPs at 2560x640
# recipe: the official upernet_hornet_large_7x7_640_160k_ade20k (see _base_/upernet_hornet_160k.py):
# drop path 0.4; stage-wise LR decay 0.8 over num_layers 12; 640 crops, sliding test crop 640 stride
# 426; weights: the "Pretrained Model" file of the official segmentation README
_base_ = [
    './_base_/upernet_hornet_160k.py', './_base_/ade20k_640x640.py',
    './_base_/backbones/hornet_l_7x7.py'
]

model = dict(
    data_preprocessor=dict(size=(640, 640)),
    backbone=dict(
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]),
    test_cfg=dict(crop_size=(640, 640), stride=(426, 426)))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, num_layers=12))
