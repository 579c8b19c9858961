# MogaNet Semantic FPN 80K on ADE20K, the recipe of the official MogaNet segmentation configs
# (fpn_moganet_*_80k_ade20k, mmseg 0.29): mmseg's FPN (256 channels, 4 levels) + FPNHead
# (channels 128, SyncBN), 512x512 crops, 8 GPUs x 4 images = 32, AdamW 2e-4 (1e-4 x 2) wd 1e-4
# without paramwise settings, poly (power 0.9, min 0) without warmup, 80K iterations,
# checkpoint and evaluation every 4K, official AlignResize whole-image test. The backbone keeps
# plain BN, as the official backbone does. Leaves set the arch, drop path, weights and FPN inputs.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    './ade20k_512x512_alignresize.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(size=(512, 512)),
    pretrained=None,
    backbone=dict(_delete_=True, type='MogaNet', out_indices=(0, 1, 2, 3)),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=80000, by_epoch=False),
]
train_cfg = dict(val_interval=4000)
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', interval=4000),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))  # see docs/faults.md
