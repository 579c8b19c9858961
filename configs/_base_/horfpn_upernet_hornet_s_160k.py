# HorNet-S (7x7) UperNet 160K on ADE20K of the HorFPN study (HorNet paper, Table 3), as in the
# official semantic_segmentation/configs/horfpn/*: mmseg's UperNet (channels 512, SyncBN) with an
# FCN auxiliary head on stage 3, 512x512 crops, 8 GPUs x 2 images, AdamW 1e-4 wd 0.05 with
# stage-wise LR decay 0.9 over num_layers 12, poly (power 1) after a 1500-iteration linear warmup,
# drop path 0.3, sliding-window test (crop 512, stride 341): the HorNet UperNet recipe
# (./upernet_hornet_160k.py) with HorNet-S 7x7. Leaves set the decode head.
_base_ = ['./upernet_hornet_160k.py', './ade20k_512x512.py', './backbones/hornet_s_7x7.py']

model = dict(
    backbone=dict(
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.in1k_checkpoint)),
    decode_head=dict(in_channels=_base_.variant.channels),
    auxiliary_head=dict(in_channels=_base_.variant.channels[2]))
