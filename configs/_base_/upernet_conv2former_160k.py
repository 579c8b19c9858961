# Conv2Former UperNet 160K on ADE20K. There is no official Conv2Former segmentation code. The
# paper's appendix (A.3) trains UperNet "following the settings used in [51]" (Swin) except for
# the drop path (Table 13), so this is mmseg's Swin UperNet recipe (configs/swin/
# swin-*_upernet_8xb2-160k_ade20k-512x512.py, the port of Swin's official one): UPerHead channels
# 512 (SyncBN) + FCN auxiliary head on stage 3, 8 GPUs x 2 images, AdamW 6e-5 wd 0.01 without
# weight decay on norms, poly (power 1) after a 1500-iteration linear warmup, whole-image test.
# Like Swin's (and ConvNeXt's) dense backbone, each stage output gets a new LayerNorm
# (out_norm_cfg LN2d; keys norm0..norm3, absent from the ImageNet weights). Not ConvNeXt's
# recipe (AdamW 1e-4, wd 0.05, layer-wise decay, sliding test): the main text cites both Swin and
# ConvNeXt, the appendix only Swin. The stem's BN (the only BN) is a SyncBN, as the other
# families' segmentation configs. No data here: a leaf adds ./ade20k_512x512.py or
# ./ade20k_640x640.py.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(size=(512, 512)),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='Conv2Former',
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        out_norm_cfg=dict(type='LN2d')),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
