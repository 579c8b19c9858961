# DINO 3x (5 scales) | HorNet-L GF (ImageNet-22K) | COCO | 8 GPUs x 2 images
# paper (Table 4): 59.2 box AP (single-scale, val; no Objects365); no params / FLOPs given
# OUR RECONSTRUCTION: the HorNet authors never released this config (raoyongming/HorNet#33); the
# paper says only "DINO, 36 epochs (3x), no extra pre-training data", next to Swin-L DINO. We take
# mmdet 3.x's Swin-L DINO 5-scale 36-epoch config (mmdet::dino/dino-5scale_swin-l_8xb2-36e_coco.py:
# 900 queries, contrastive denoising, AdamW lr 1e-4 wd 1e-4 with the backbone at 0.1x lr, grad clip
# 0.1, steps 27 / 33, fp16 loss scale 512) and swap in the dense HorNet-L GF of the official HorNet
# detection configs (filters 24x13 / 12x7, drop path 0.7, the det "Pretrained Model" weights). Its
# four outputs have Swin-L's channels (192-1536), so DINO's ChannelMapper is unchanged; with_cp as
# in the Swin-L config.
_base_ = ['mmdet::dino/dino-5scale_swin-l_8xb2-36e_coco.py', './_base_/backbones/hornet_l_gf.py']
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='HorNet',
        arch=_base_.variant.arch,
        mixer=_base_.variant.mixer,
        gf_sizes=((24, 13), (12, 7)),
        drop_path_rate=0.7,
        out_indices=(0, 1, 2, 3),
        with_cp=True,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)))

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
