# Swin-S Mask R-CNN 1x of the HorFPN study (HorNet paper, Table 3). mmdet has no Swin-S 1x config;
# this is mmdet's Swin-T 1x recipe (single-scale 1333x800, AdamW 1e-4 wd 0.05, no decay on norms and
# position tables, warmup 1000, steps 8/11, drop path 0.2) with Swin-S depths and weights, which is
# an assumption: the paper does not give the Swin-S recipe. Leaves set the neck.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        depths=[2, 2, 18, 2],
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://github.com/SwinTransformer/storage/releases/download/v1.0.0/'
            'swin_small_patch4_window7_224.pth')))

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
