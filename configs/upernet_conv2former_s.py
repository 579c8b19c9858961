# UperNet 160K | Conv2Former-S (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 2 images
# paper (Conv2Former paper, Table 9): 79M params, 50.3 mIoU; the paper gives no FLOPs.
# recipe: there is no official segmentation code; the paper's appendix follows Swin's UperNet
# settings except the drop path, here 0.3 (paper Table 13): _base_/upernet_conv2former_160k.py
# explains the choice.
# weights: the official Conv2Former-S ImageNet-1K checkpoint is published only on Baidu Netdisk,
# without a direct URL: download it to pretrained/conv2former_s_1k.pth (without it, training stops
# with the share link and its extraction code).
_base_ = [
    './_base_/upernet_conv2former_160k.py', './_base_/ade20k_512x512.py',
    './_base_/backbones/conv2former_s.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
