# ImageNet-1K | HorNet-B (7x7) | 224x224 | 4 nodes x 8 GPUs x 64 images x 2 accumulation steps
# paper (HorNet Table 1 / README): 87M params, 15.6G FLOPs, 84.2 top-1
# release (Tsinghua Cloud): https://cloud.tsinghua.edu.cn/f/13a748487711492e9704/?dl=1
_base_ = ['./_base_/imagenet_hornet.py', './_base_/backbones/hornet_b_7x7.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, mixer=_base_.variant.mixer, drop_path_rate=0.5),
    head=dict(in_channels=_base_.variant.channels[-1]))
optim_wrapper = dict(clip_grad=dict(max_norm=5.0), accumulative_counts=2)
train_dataloader = dict(batch_size=64)
