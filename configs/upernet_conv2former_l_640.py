# UperNet 160K | Conv2Former-L (ImageNet-22K) | ADE20K 640x640 | 8 GPUs x 2 images
# paper (Conv2Former paper, Table 9): 231M params, 54.3 mIoU; the paper gives no FLOPs.
# recipe: there is no official segmentation code; the paper's appendix follows Swin's UperNet
# settings except the drop path, here 0.4 (paper Table 13): _base_/upernet_conv2former_160k.py
# explains the choice; 640 crops with a 2560x640 train/test scale, as Swin-L and ConvNeXt-L.
# weights: the official Conv2Former-L ImageNet-22K checkpoint (fine-tuned on 1K at 224, the only
# released L weights) is published only on Baidu Netdisk, without a direct URL: download it to
# pretrained/conv2former_l_22k.pth (without it, training stops with the share link and its
# extraction code).
_base_ = [
    './_base_/upernet_conv2former_160k.py', './_base_/ade20k_640x640.py',
    './_base_/backbones/conv2former_l.py'
]

model = dict(
    data_preprocessor=dict(size=(640, 640)),
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
