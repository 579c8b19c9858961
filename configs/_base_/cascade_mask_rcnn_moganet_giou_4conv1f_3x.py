# MogaNet Cascade Mask R-CNN MS 3x with GIoU 4conv1f heads on COCO, as in the official
# cascade_mask_rcnn_moganet_*_fpn_giou_4conv1f_ms_3x_coco configs (MogaNet paper, Cascade Mask R-CNN
# table): three ConvFCBBoxHeads (4 convs + 1 fc, SyncBN), GIoU loss (weight 10) on decoded boxes,
# class-specific regression; the DETR / Sparse R-CNN multi-scale AutoAugment pipeline; 2 images/GPU
# x 8 GPUs; 36 epochs (steps 27, 33; linear warm-up 1000 iterations from 0.001). Heads, pipeline and
# schedule are exactly those of mmdet's ConvNeXt-T Cascade 3x config, inherited here; what differs:
# the MogaNet backbone and the official optimizer, in fp32 (no AMP). Here MogaNet-S's: AdamW lr 2e-4
# wd 0.05 with no weight decay on norms, layer scales and sigma scales; B/L/XL replace it by layer-
# wise LR decay.
_base_ = ('mmdet::convnext/'
          'cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py')
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, type='MogaNet', out_indices=(0, 1, 2, 3)))

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
