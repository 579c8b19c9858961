# RetinaNet 1x | MogaNet-B (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 53.5M params, 354.5 GFLOPs at 1280x800, 47.7 box AP
# recipe: official retinanet_moganet_base_fpn_1x_coco (see _base_/retinanet_moganet_1x.py)
_base_ = ['./_base_/retinanet_moganet_1x.py', './_base_/backbones/moganet_b.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
