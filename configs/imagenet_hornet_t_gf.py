# ImageNet-1K | HorNet-T (GF) | 224x224 | 4 nodes x 8 GPUs x 128 images
# paper (HorNet Table 1 / README): 23M params, 3.9G FLOPs, 83.0 top-1
# release (Tsinghua Cloud): https://cloud.tsinghua.edu.cn/f/460e759c82324ea6bfa3/?dl=1
_base_ = ['./_base_/imagenet_hornet.py', './_base_/backbones/hornet_t_gf.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, mixer=_base_.variant.mixer, drop_path_rate=0.2),
    head=dict(in_channels=_base_.variant.channels[-1]))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
