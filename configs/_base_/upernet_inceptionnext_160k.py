# InceptionNeXt UperNet 160K on ADE20K (InceptionNeXt paper, Table 6). The authors released no
# segmentation code; the paper (Sec. 4.3, appendix) trains UperNet "following Swin and ConvNeXt"
# with AdamW lr 6e-5, batch 16, 160K iterations, and the maintainers add that BN became SyncBN
# and a new SyncBN was put on each stage output (sail-sg/inceptionnext#10, #11). So: mmseg's
# Swin UperNet recipe (UPerHead channels 512 + FCN auxiliary head, 8 GPUs x 2 images, AdamW 6e-5
# wd 0.01 without weight decay on norms, poly (power 1) after a 1500-iteration linear warmup,
# whole-image test) with a SyncBN backbone and SyncBN output norms (norm0..norm3, new keys).
# No data here: a leaf adds ./ade20k_512x512.py.
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
        type='InceptionNeXt',
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        out_norm_cfg=dict(type='SyncBN', requires_grad=True)),
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
