# ImageNet-1K | HorNet-L (7x7), ImageNet-22K pre-trained | 384x384
# 4 nodes x 8 GPUs x 16, 30 epochs
# paper (HorNet Table 1, "HorNet-L ↑384"): 195M params, 102.3G FLOPs, 87.6 top-1
# no ImageNet-1K release; the backbone starts from the official ImageNet-22K file (Tsinghua Cloud)
_base_ = './_base_/imagenet_hornet_large_384.py'

model = dict(
    backbone=dict(
        mixer='dw',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://cloud.tsinghua.edu.cn/f/c2fc23caae084a3aa73d/?dl=1')))
