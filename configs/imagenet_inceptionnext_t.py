# ImageNet-1K | InceptionNeXt-T | 224x224 | 8 GPUs x 128 images x 4 accumulation steps, 300 epochs
# paper (InceptionNeXt Table 3): 28M params, 4.2G MACs, 82.3 top-1
# release: https://github.com/sail-sg/inceptionnext/releases/download/model/inceptionnext_tiny.pth
_base_ = ['./_base_/imagenet_inceptionnext.py', './_base_/backbones/inceptionnext_t.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.1), head=dict(in_channels=2304))
