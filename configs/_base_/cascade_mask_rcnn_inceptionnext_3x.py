# InceptionNeXt Cascade Mask R-CNN 3x on COCO. No paper figure and no official detection code
# exist; these are the first detection configs for InceptionNeXt, on ConvNeXt's Cascade recipe as
# mmdet ports it, inherited from mmdet's ConvNeXt-T Cascade 3x config: three ConvFCBBoxHeads
# (4 convs + 1 fc, SyncBN), GIoU loss (weight 10), the DETR / Sparse R-CNN multi-scale AutoAugment
# pipeline, 2 images/GPU x 8 GPUs, 36 epochs (steps 27, 33; warm-up 1000 iterations), mixed
# precision, AdamW lr 2e-4 wd 0.05 with layer-wise LR decay 0.7 (num_layers 6 for T, 12 for S/B, as
# ConvNeXt-T/S/B; InceptionNeXt's ConvNeXt-rule ids). Backbone as the InceptionNeXt authors ran it
# for dense prediction (sail-sg/inceptionnext#11): SyncBN in the trunk plus a new SyncBN on each
# output. Drop path: the authors' UperNet values (T/S/B 0.2/0.3/0.4; our choice).
_base_ = ('mmdet::convnext/'
          'cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py')
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='InceptionNeXt',
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN'),
        out_norm_cfg=dict(type='SyncBN')))

optim_wrapper = dict(constructor='BackboneLayerDecayOptimWrapperConstructor')
auto_scale_lr = dict(enable=False, base_batch_size=16)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
