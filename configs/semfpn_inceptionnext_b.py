# Semantic FPN 40K | InceptionNeXt-B (ImageNet-1K) | ADE20K 512x512 | 8 GPUs x 4 images
# paper (InceptionNeXt paper, Table 7): 85M params, 100G MACs at 512x512, 46.4 mIoU
# recipe: no official code; PoolFormer's Semantic FPN settings as the paper says (40K
# iterations, batch 32, AdamW 2e-4, poly 0.9), drop path 0.2 (paper Table 10), SyncBN
# backbone + SyncBN stage-output norms as the maintainers say
# (_base_/semfpn_inceptionnext_40k.py)
_base_ = ['./_base_/semfpn_inceptionnext_40k.py', './_base_/backbones/inceptionnext_b.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
