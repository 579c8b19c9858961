# ImageNet-1K | MogaNet-XT | 224x224 | 8 GPUs x 128 images, 300 epochs
# paper (MogaNet README / TRAINING.md): 2.97M params, 0.80G FLOPs, 76.5 top-1
# release: https://github.com/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/
#   moganet_xtiny_sz224_8xbs128_ep300.pth.tar
_base_ = ['./_base_/imagenet_moganet_light.py', './_base_/backbones/moganet_xt.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.05),
    head=dict(in_channels=_base_.variant.channels[-1]))
optim_wrapper = dict(optimizer=dict(weight_decay=0.03))
