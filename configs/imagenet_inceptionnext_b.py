# ImageNet-1K | InceptionNeXt-B | 224x224 | 8 GPUs x 128 images x 4 accumulation steps, 300 epochs
# paper (InceptionNeXt Table 3): 87M params, 14.9G MACs, 84.0 top-1
# release: https://github.com/sail-sg/inceptionnext/releases/download/model/inceptionnext_base.pth
_base_ = ['./_base_/imagenet_inceptionnext.py', './_base_/backbones/inceptionnext_b.py']

model = dict(
    backbone=dict(arch=_base_.variant.arch, drop_path_rate=0.4), head=dict(in_channels=3072))
