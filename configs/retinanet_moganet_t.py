# RetinaNet 1x | MogaNet-T (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper: 14.4M params, 173.4 GFLOPs at 1280x800, 41.4 box AP
# recipe: official retinanet_moganet_tiny_fpn_1x_coco (see _base_/retinanet_moganet_1x.py)
_base_ = ['./_base_/retinanet_moganet_1x.py', './_base_/backbones/moganet_t.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))
