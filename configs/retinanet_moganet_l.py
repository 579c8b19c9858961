# RetinaNet 1x | MogaNet-L (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 92.4M params, 476.8 GFLOPs at 1280x800, 48.7 box AP
# recipe: official retinanet_moganet_large_fpn_1x_coco (see _base_/retinanet_moganet_1x.py)
_base_ = ['./_base_/retinanet_moganet_1x.py', './_base_/backbones/moganet_l.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
