# ImageNet-1K | MogaNet-XL | 224x224 | 8 GPUs x 64 images, 300 epochs
# paper (MogaNet README / TRAINING.md): 180.8M params, 34.5G FLOPs, 85.1 top-1, evaluated
# with the EMA weights (`state_dict_ema` of the release; mmengine loads its `state_dict`)
# release: https://github.com/Westlake-AI/MogaNet/releases/download/moganet-in1k-weights/
#   moganet_xlarge_sz224_8xbs64_ep300.pth.tar
_base_ = ['./_base_/imagenet_moganet.py', './_base_/backbones/moganet_xl.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.4),
    head=dict(in_channels=_base_.variant.channels[-1]))
optim_wrapper = dict(optimizer=dict(weight_decay=0.05))
train_dataloader = dict(batch_size=64)
auto_scale_lr = dict(base_batch_size=512)
