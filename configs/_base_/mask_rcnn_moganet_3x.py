# MogaNet Mask R-CNN MS 3x on COCO, as in the official mask_rcnn_moganet_*_fpn_mstrain_480-800_3x
# configs: mmdet's Mask R-CNN + FPN with the DETR / Sparse R-CNN multi-scale AutoAugment pipeline
# (short side 480-800, or resize 400-600 + crop 384-600 + resize), 2 images/GPU x 8 GPUs, 36 epochs
# (steps 27, 33; linear warm-up 500 iterations from 0.001), fp32, AdamW lr 2e-4 wd 0.05 with no
# weight decay on norms, layer scales and MogaNet's sigma scales. Everything but the backbone,
# optimizer and warm-up is mmdet's ConvNeXt-T Mask R-CNN 3x config (same pipeline and schedule).
_base_ = 'mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='MogaNet', out_indices=(0, 1, 2, 3)))

max_epochs = 36
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'layer_scale': dict(decay_mult=0.),
        'scale': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
    }))
auto_scale_lr = dict(enable=False, base_batch_size=16)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
