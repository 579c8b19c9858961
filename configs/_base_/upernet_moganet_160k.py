# MogaNet UperNet 160K on ADE20K, the recipe of the official MogaNet segmentation configs
# (upernet_moganet_*_512x512_160k_ade20k, mmseg 0.29): mmseg's UperNet (UPerHead channels 512,
# SyncBN) with an FCN auxiliary head on stage 3, 8 GPUs x 2 images, AdamW 1e-4 wd 0.01 with no
# weight decay on layer scales, MogaNet's sigma scales and norms, poly (power 1) after a
# 1500-iteration linear warmup, whole-image test. The backbone keeps plain BN: the official
# configs pass a SyncBN dict that the official backbone never reads (its norms are always BN).
# No data here: a leaf adds ./ade20k_512x512_alignresize.py (or the 640 one), which carries the
# official AlignResize test resize, and sets the arch, drop path, weights and head widths.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(size=(512, 512)),
    pretrained=None,
    backbone=dict(_delete_=True, type='MogaNet', out_indices=(0, 1, 2, 3)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'layer_scale': dict(decay_mult=0.),
        'scale': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000, by_epoch=False),
]

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
