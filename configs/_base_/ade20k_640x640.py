# ADE20K, 640x640 crops (the ImageNet-22K rows): mmseg's own 640 dataset base (train: resize to
# 2560x640 x [0.5, 2], crop 640; test: keep-ratio resize to 2560x640), 2 images per GPU, plus the
# papers' multi-scale + flip test (mmseg 0.x's MultiScaleFlipAug at img_scale=(2560, 640); see
# ade20k_512x512.py).
_base_ = 'mmseg::_base_/datasets/ade20k_640x640.py'

test_scale = (2560, 640)
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
