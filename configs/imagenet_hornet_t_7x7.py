# ImageNet-1K | HorNet-T (7x7) | 224x224 | 4 nodes x 8 GPUs x 128 images
# paper (HorNet Table 1 / README): 22M params, 4.0G FLOPs, 82.8 top-1
# release (Tsinghua Cloud): https://cloud.tsinghua.edu.cn/f/bac9690c72944d19aca1/?dl=1
_base_ = ['./_base_/imagenet_hornet.py', './_base_/backbones/hornet_t_7x7.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, mixer=_base_.variant.mixer, drop_path_rate=0.2),
    head=dict(in_channels=_base_.variant.channels[-1]))
optim_wrapper = dict(clip_grad=dict(max_norm=100.0))
