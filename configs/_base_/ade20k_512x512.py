# ADE20K, 512x512 crops: mmseg's own dataset base (train: resize to 2048x512 x [0.5, 2], crop,
# flip, photometric distortion; test: keep-ratio resize to 2048x512), 2 images per GPU (the
# UperNet setting of all four papers, 8 GPUs x 2 = 16), plus the papers' multi-scale + flip test.
# ms+flip (`tools/test.py --tta`): mmseg 0.x's MultiScaleFlipAug(img_scale=(2048, 512),
# img_ratios=[0.5, ..., 1.75], flip=True), which all four papers used: every scale is the *test
# scale* times the ratio (keep ratio). mmseg 1.x's own tta_pipeline multiplies the *image* size
# instead, a different protocol.
_base_ = 'mmseg::_base_/datasets/ade20k.py'

test_scale = (2048, 512)
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='Resize',
                    scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                    keep_ratio=True) for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ]),
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
