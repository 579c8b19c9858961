# ADE20K at 512x512 crops with the official MogaNet test resize: keep-ratio resize to 2048x512,
# then a second resize so both sides are multiples of 32 (mmmoga AlignResize, the mmseg 0.x
# AlignResize of the MogaNet segmentation code). It stretches the image by up to 31 pixels per
# side where Resize(keep_ratio=True) + the preprocessor's padding would pad it, so the two are
# not equivalent (tests/test_seg_configs.py checks the sizes). The ms+flip test uses the same
# resize at each scale, as the official MultiScaleFlipAug(AlignResize) pipeline.
_base_ = './ade20k_512x512.py'

test_scale = (2048, 512)
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='AlignResize', scale=test_scale, size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(
                    type='AlignResize',
                    scale=(int(test_scale[0] * r), int(test_scale[1] * r)),
                    size_divisor=32) for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ]),
]
