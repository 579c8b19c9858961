# HorNet Cascade Mask R-CNN 3x on COCO, as in the official
# object_detection/configs/hornet/cascade_mask_rcnn_hornet_*_3x_coco_in{1k,22k} (HorNet paper,
# Table 2): three ConvFCBBoxHeads (4 convs + 1 fc, SyncBN), GIoU loss (weight 10) on decoded boxes,
# class-specific regression; the DETR / Sparse R-CNN multi-scale AutoAugment pipeline; 2 images/GPU
# x 8 GPUs; 36 epochs (steps 27, 33; linear warm-up 500 iterations from 0.001); fp32
# (`fp16 = None`). AdamW wd 0.05 with HorNet's layer-wise LR decay (num_layers 12; stage 4 and the
# last downsampler at decay_rate x lr, the stem at decay_rate^13 x lr, neck and heads at lr); no
# weight decay on 1-D params and biases (the official rule; the GF complex weights are decayed).
# Heads, pipeline and schedule are mmdet's ConvNeXt-T Cascade 3x config, inherited here; what
# differs: the backbone, 500 warm-up iterations, fp32 and the optimizer. Leaves set the variant,
# drop path, weights, and (B: decay 0.8; L: lr 1e-4) where the official configs differ.
_base_ = ('mmdet::convnext/'
          'cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py')
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='HorNet', out_indices=(0, 1, 2, 3)))

max_epochs = 36
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(
        type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=12))
auto_scale_lr = dict(enable=False, base_batch_size=16)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
