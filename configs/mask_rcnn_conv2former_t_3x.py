# Mask R-CNN 3x | Conv2Former-T (ImageNet-1K) | COCO | 8 GPUs x 2 images
# paper (Table 8): 48.0 box AP, 43.0 mask AP (no params / FLOPs given); drop path 0.2 (Table 12)
# recipe: ConvNeXt's, as the paper's appendix A.2 says, inherited from mmdet's ConvNeXt-T Mask R-CNN
# 3x config: the DETR / Sparse R-CNN multi-scale AutoAugment pipeline, 36 epochs (steps 27, 33;
# warm-up 1000 iterations), mixed precision, AdamW lr 1e-4 wd 0.05 with ConvNeXt's layer-wise LR
# decay 0.95 over 6 layers (our constructor, Conv2Former's ConvNeXt-rule ids); ConvNeXt-style
# channels-first LayerNorms on the four backbone outputs (new weights).
# weights: Conv2Former's ImageNet checkpoints are on Baidu Netdisk only (no direct URL). Download
# conv2former_t from the link in the official README (HVision-NKU/Conv2Former), save it as
# pretrained/conv2former_t_1k.pth (or pass --cfg-options model.backbone.init_cfg.checkpoint=PATH);
# the loader names the link and code if the file is missing.
_base_ = [
    'mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py',
    './_base_/backbones/conv2former_t.py'
]
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='Conv2Former',
        arch=_base_.variant.arch,
        out_indices=(0, 1, 2, 3),
        out_norm_cfg=dict(type='LN2d'),
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=_base_.variant.checkpoint)),
    neck=dict(in_channels=_base_.variant.channels))

optim_wrapper = dict(constructor='BackboneLayerDecayOptimWrapperConstructor')
auto_scale_lr = dict(enable=False, base_batch_size=16)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
