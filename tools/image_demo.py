#!/usr/bin/env python
"""Run a trained model on images and save one PNG with the predictions drawn.

The config's default_scope picks the task: mmdet (boxes and masks), mmseg (class map), mmpose
(keypoints of one person per image, the whole image as its box).

Examples:
  python tools/image_demo.py data/toy/coco/val/000001.jpg data/toy/coco/val/000002.jpg \\
      configs/mask_rcnn_moganet_xt_toy.py work_dirs/mask_rcnn_moganet_xt_toy/epoch_12.pth \\
      --out predictions.png
"""
import argparse
import os.path as osp

import mmcv
import numpy as np
from mmengine.config import Config

import mmmoga  # noqa: F401
from mmmoga.models import fuse_for_inference
from mmmoga.utils import CheckpointError, trust_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument('--out', default='predictions.png', help='output PNG')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detection score threshold')
    parser.add_argument('--device', default='cpu', help='e.g. cpu or cuda:0')
    parser.add_argument('--columns', type=int, default=4, help='images per row of the PNG')
    parser.add_argument(
        '--fuse',
        action='store_true',
        help='fold BatchNorms and scales into the convs first '
        '(mmmoga.models.fuse_for_inference: same predictions, faster)')
    parser.add_argument(
        '--unsafe-unpickle',
        action='store_true',
        help='load CHECKPOINT with a full unpickle (weights_only=False), which '
        'runs any code the file contains; only for a file you trust that pickles '
        'more than tensors, numpy arrays and mmengine\'s log buffers')
    args = parser.parse_args()
    for path in [*args.images, args.config]:
        if not osp.isfile(path):
            parser.error(f'file not found: {path}')
    return args


def fused(model, args):
    """The model, with BNs and scales folded into its convs when ``--fuse`` is given."""
    if args.fuse:
        fuse_for_inference(model)
    return model


def draw_detections(args, images):
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import VISUALIZERS
    model = fused(init_detector(args.config, args.checkpoint, device=args.device), args)
    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.dataset_meta = model.dataset_meta
    for image in images:
        result = inference_detector(model, image[..., ::-1].copy())  # the model reads BGR
        visualizer.add_datasample(
            'prediction',
            image,
            data_sample=result,
            draw_gt=False,
            pred_score_thr=args.score_thr,
            show=False)
        yield visualizer.get_image()


def with_config_palette(dataset_meta: dict, cfg: Config) -> dict:
    """The checkpoint's dataset meta, with the palette of the config's test dataset when the
    config sets one for the same classes (so a palette changed in the config is drawn without
    retraining)."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    metainfo = dataset.get('metainfo') or {}
    palette, classes = metainfo.get('palette'), metainfo.get('classes')
    if not palette or (classes and tuple(classes) != tuple(dataset_meta.get('classes', ()))):
        return dataset_meta
    return dict(dataset_meta, palette=[tuple(colour) for colour in palette])


def draw_segmentation(args, images):
    from mmseg.apis import inference_model, init_model
    from mmseg.registry import VISUALIZERS
    model = fused(init_model(args.config, args.checkpoint, device=args.device), args)
    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.dataset_meta = with_config_palette(model.dataset_meta, model.cfg)
    for image in images:
        result = inference_model(model, image[..., ::-1].copy())
        visualizer.add_datasample(
            'prediction', image, data_sample=result, draw_gt=False, show=False, with_labels=False)
        yield visualizer.get_image()


def draw_keypoints(args, images):
    from mmpose.apis import inference_topdown, init_model
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples
    model = fused(init_model(args.config, args.checkpoint, device=args.device), args)
    # mmpose 1.3's OpenCV drawing passes the keypoint radius as an array, which NumPy 2 refuses
    # to convert with int(); its matplotlib backend draws the same skeletons
    visualizer = VISUALIZERS.build(dict(model.cfg.visualizer, backend='matplotlib'))
    visualizer.set_dataset_meta(model.dataset_meta)
    for image in images:
        result = merge_data_samples(inference_topdown(model, image[..., ::-1].copy()))
        visualizer.add_datasample(
            'prediction', image, data_sample=result, draw_gt=False, draw_bbox=False, show=False)
        yield visualizer.get_image()


DRAWERS = {'mmdet': draw_detections, 'mmseg': draw_segmentation, 'mmpose': draw_keypoints}


def tile(images, columns):
    height = max(img.shape[0] for img in images)
    width = max(img.shape[1] for img in images)
    rows = -(-len(images) // columns)
    canvas = np.full((rows * height, min(columns, len(images)) * width, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * height:r * height + img.shape[0], c * width:c * width + img.shape[1]] = img
    return canvas


def main():
    args = parse_args()
    scope = Config.fromfile(args.config).get('default_scope')
    if scope not in DRAWERS:
        raise SystemExit(f'ERROR: image_demo supports configs with default_scope in '
                         f'{sorted(DRAWERS)}, got {scope!r}')
    images = []
    for path in args.images:
        try:
            image = mmcv.imread(path, channel_order='rgb')
        except Exception:  # OpenCV raises or returns None, depending on the file
            image = None
        if image is None:
            raise SystemExit(f'ERROR: {path} is not an image OpenCV can read (JPEG, PNG, BMP, '
                             f'TIFF, ...): pass image files only')
        images.append(image)
    if args.unsafe_unpickle:
        trust_checkpoint(args.checkpoint)
    try:
        drawn = list(DRAWERS[scope](args, images))
    except CheckpointError as err:  # refused, truncated, corrupt or missing checkpoint
        raise SystemExit(f'ERROR: {err}')
    mmcv.imwrite(tile(drawn, args.columns)[..., ::-1], args.out)
    print(f'wrote {args.out} ({len(drawn)} images)')


if __name__ == '__main__':
    main()
