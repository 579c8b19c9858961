# UperNet 160K | MogaNet-XL | ADE20K 640x640 | 8 GPUs x 2 images
# paper (MogaNet paper, ADE20K UperNet table, MogaNet-XL with the IN-21K mark): 214M params,
# 2451G FLOPs at 2560x640, 54.0 mIoU (single scale)
# recipe: the official MogaNet UperNet recipe (_base_/upernet_moganet_160k.py) at 640x640
# crops (2560x640 train/test scale, the paper's 640 setting), drop path 0.4 (official XL
# value), AlignResize test. Weights: the paper's row starts from ImageNet-21K pretraining,
# but Westlake-AI released no IN-21K MogaNet-XL checkpoint; init_cfg loads the only released
# XL weights (ImageNet-1K, 85.1 top-1), which are not the paper's starting point. Point
# init_cfg.checkpoint at IN-21K weights if you have them.
_base_ = [
    './_base_/upernet_moganet_160k.py', './_base_/ade20k_640x640_alignresize.py',
    './_base_/backbones/moganet_xl.py'
]

model = dict(
    data_preprocessor=dict(size=(640, 640)),
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
