# ImageNet-1K | Conv2Former-B | 224x224 | 8 GPUs x 128 images, 300 epochs
# paper (Conv2Former Table 3): 90M params, 15.9G FLOPs, 84.4 top-1; drop path 0.7 (Table 10)
# release (Baidu Netdisk only, no direct URL): https://pan.baidu.com/s/
#   1q5V1J3jzAoKQis-hx6rTVg (code bdgj)
_base_ = ['./_base_/imagenet_conv2former.py', './_base_/backbones/conv2former_b.py']

model = dict(backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.7))
