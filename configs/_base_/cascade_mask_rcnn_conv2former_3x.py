# Conv2Former Cascade Mask R-CNN 3x on COCO (Conv2Former paper, Table 8 and appendix A.2: "the
# experimental settings as in ConvNeXt / Swin, except the stochastic depth rates"). No official
# detection code or config exists; this is ConvNeXt's recipe as mmdet ports it, inherited from
# mmdet's ConvNeXt-T Cascade 3x config: three ConvFCBBoxHeads (4 convs + 1 fc, SyncBN), GIoU loss
# (weight 10), the DETR / Sparse R-CNN multi-scale AutoAugment pipeline, 2 images/GPU x 8 GPUs,
# 36 epochs (steps 27, 33; warm-up 1000 iterations), mixed precision, AdamW lr 2e-4 wd 0.05 with
# ConvNeXt's layer-wise LR decay 0.7 (num_layers 6 for T, 12 for S/B, as ConvNeXt-T/S/B; stage-3
# blocks at 3 + j // 3, capped below stage 4). The backbone gets ConvNeXt-style channels-first
# LayerNorms on its four outputs (new weights). Leaves set the variant, drop path (paper Table 12)
# and weights.
# Weights: Conv2Former's ImageNet checkpoints are on Baidu Netdisk only (no direct URL). Download
# conv2former_<t|s|b> from the links in the official README (HVision-NKU/Conv2Former) and save it
# as pretrained/conv2former_<t|s|b>_1k.pth, or pass --cfg-options
# model.backbone.init_cfg.checkpoint=PATH; the loader names the link and code if the file is
# missing.
_base_ = ('mmdet::convnext/'
          'cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py')
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='Conv2Former', out_indices=(0, 1, 2,
                                                        3), out_norm_cfg=dict(type='LN2d')))

optim_wrapper = dict(constructor='BackboneLayerDecayOptimWrapperConstructor')
auto_scale_lr = dict(enable=False, base_batch_size=16)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
