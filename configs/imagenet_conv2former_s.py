# ImageNet-1K | Conv2Former-S | 224x224 | 8 GPUs x 128 images, 300 epochs
# paper (Conv2Former Table 3): 50M params, 8.7G FLOPs, 84.1 top-1; drop path 0.3 (Table 10)
# release (Baidu Netdisk only, no direct URL): https://pan.baidu.com/s/
#   16Lu1LcQkOoSQXnZVGxGPxg (code 6z6m)
_base_ = ['./_base_/imagenet_conv2former.py', './_base_/backbones/conv2former_s.py']

model = dict(backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.3))
