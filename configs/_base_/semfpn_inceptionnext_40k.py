# InceptionNeXt Semantic FPN 40K on ADE20K (InceptionNeXt paper, Table 7). No official code; the
# paper follows PoolFormer's Semantic FPN recipe: mmseg's FPN (256 channels, 4 levels) + FPNHead
# (channels 128, SyncBN), 512x512 crops, batch 32 (8 GPUs x 4) for 40K iterations, AdamW 2e-4 wd
# 1e-4 (PoolFormer's), poly (power 0.9, min 0) without warmup, checkpoint and evaluation every
# 4K, whole-image test; with the authors' SyncBN backbone and SyncBN output norms
# (sail-sg/inceptionnext#11). Leaves set the arch, drop path, weights and FPN inputs.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    './ade20k_512x512.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
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
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=40000, by_epoch=False),
]
train_cfg = dict(val_interval=4000)
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=4000),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))  # see docs/faults.md
