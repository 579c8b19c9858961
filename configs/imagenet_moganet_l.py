# ImageNet-1K | MogaNet-L | 224x224 | 8 GPUs x 128 images, 300 epochs
# paper (MogaNet README / TRAINING.md): 82.5M params, 15.9G FLOPs, 84.7 top-1, evaluated
# with the EMA weights (`state_dict_ema` of the release; mmengine loads its `state_dict`)
# release: https://github.com/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/
#   moganet_large_sz224_8xbs64_ep300.pth.tar
_base_ = ['./_base_/imagenet_moganet.py', './_base_/backbones/moganet_l.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.3),
    head=dict(in_channels=_base_.variant.channels[-1]))
optim_wrapper = dict(optimizer=dict(weight_decay=0.05))
