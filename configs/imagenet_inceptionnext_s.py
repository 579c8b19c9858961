# ImageNet-1K | InceptionNeXt-S | 224x224 | 8 GPUs x 128 images x 4 accumulation steps, 300 epochs
# paper (InceptionNeXt Table 3): 49M params, 8.4G MACs, 83.5 top-1
# release: https://github.com/sail-sg/inceptionnext/releases/download/model/inceptionnext_small.pth
_base_ = ['./_base_/imagenet_inceptionnext.py', './_base_/backbones/inceptionnext_s.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.3), head=dict(in_channels=2304))
