# Top-down heatmap pose estimation with a MogaNet backbone on COCO keypoints, 256x192 input: the
# official recipe (MogaNet pose_estimation/configs/.../moganet_*_coco_256x192.py, mmpose 0.29) on
# mmpose 1.x's port of the same SimpleBaseline recipe (td-hm_res50_8xb64-210e_coco-256x192.py:
# heatmap head with 3 deconvs of 256, MSRA heatmaps sigma 2, bbox padding 1.25, shift 0.16 (p 0.3),
# flip, half-body (p 0.3), rotation and scale jitter, flip test with shifted heatmaps, detected
# person boxes (COCO_val2017_detections_AP_H_56_person.json) for val/test).
# What differs from mmpose's ResNet-50 config: the MogaNet backbone (last stage only, as the
# official in_index=3), 32 images/GPU x 8 GPUs = 256 and Adam lr 1e-3 (official). Each row sets
# the arch, drop path, head in_channels and the ImageNet checkpoint.
# The official configs pass SyncBN dicts that the official backbone ignores (its norms stay BN),
# so the backbone uses BN here too; mmpose's head has no norms.
_base_ = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='MogaNet',
        arch='small',
        out_indices=(3, ),
        layer_scale_init_value=1e-5,
        drop_path_rate=0.2),
    head=dict(in_channels=512))

optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_dataloader = dict(batch_size=32)
auto_scale_lr = dict(base_batch_size=256)

# crash-safe checkpoints (atomic, ordered writes) and a stop on a non-finite loss: docs/faults.md
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook'),
    finite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'))
