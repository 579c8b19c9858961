# ImageNet-1K | Conv2Former-N | 224x224 | 8 GPUs x 128 images, 300 epochs
# paper (Conv2Former Table 3): 15M params, 2.2G FLOPs, 81.5 top-1; drop path 0.1 (Table 10)
# release (Baidu Netdisk only, no direct URL): https://pan.baidu.com/s/
#   1sgO-UhF27UQrGtfKJzck3A (code 6ku9)
# kernel 7: the current official N (11 before January 2025); a checkpoint with another kernel
# is refused, naming the fix
_base_ = ['./_base_/imagenet_conv2former.py', './_base_/backbones/conv2former_n.py']

model = dict(backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.1))
