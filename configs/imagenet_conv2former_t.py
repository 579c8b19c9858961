# ImageNet-1K | Conv2Former-T | 224x224 | 8 GPUs x 128 images, 300 epochs
# paper (Conv2Former Table 3): 27M params, 4.4G FLOPs, 83.2 top-1; drop path 0.15 (Table 10)
# release (Baidu Netdisk only, no direct URL): https://pan.baidu.com/s/
#   1Rfsi5p5usr3UE46jigtlcg (code gwq4)
_base_ = ['./_base_/imagenet_conv2former.py', './_base_/backbones/conv2former_t.py']

model = dict(backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.15))
