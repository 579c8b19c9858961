# UperNet 160K | InceptionNeXt-B (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 2 images
# paper (InceptionNeXt paper, Table 6): 115M params, 1159G MACs at 2048x512, 50.6 mIoU
# (multi-scale, the maintainers say: sail-sg/inceptionnext#10)
# recipe: no official code; Swin's UperNet settings as the paper says, drop path 0.4
# (paper Table 10), SyncBN backbone + SyncBN stage-output norms as the maintainers say
# (_base_/upernet_inceptionnext_160k.py)
_base_ = [
    './_base_/upernet_inceptionnext_160k.py', './_base_/ade20k_512x512.py',
    './_base_/backbones/inceptionnext_b.py'
]

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
