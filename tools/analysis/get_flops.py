#!/usr/bin/env python
"""Count parameters and FLOPs of the model a config builds, with mmengine's counter.

FLOPs here are multiply-accumulates (the papers' convention: 1 MAC = 1 FLOP), counted by
``mmengine.analysis`` (fvcore-style); the papers used mmcv 1.x's counter, so figures differ slightly.
FFT ops (HorNet GF) are not counted by this counter. Detectors run their test-time forward on one
blank image (RPN proposals, RoI heads, masks), segmentors the whole-image decode, pose models and
classifiers their tensor forward.

Examples:
  python tools/analysis/get_flops.py configs/mask_rcnn_moganet_s.py --shape 800 1280
  python tools/analysis/get_flops.py configs/mask_rcnn_moganet_s.py --backbone-only --shape 224
"""
import argparse
from functools import partial

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, DefaultScope

import mmmoga  # noqa: F401
from mmmoga.utils import load_config


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', default=[800, 1280],
                        help='input height and width (one value: square); default 800 1280')
    parser.add_argument('--backbone-only', action='store_true', help='count the backbone only')
    parser.add_argument('--show-table', action='store_true', help='per-module table')
    return parser.parse_args()


def build_model(cfg):
    model = MODELS.build(cfg.model)
    return revert_sync_batchnorm(model).eval()


def tensor_forward(model, scope, height, width):
    """Bind everything but the image, so the counter can call ``model(image)``."""
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        shape = (height, width)
        sample = DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                                             batch_input_shape=shape, scale_factor=(1., 1.)))
        return partial(model._forward, batch_data_samples=[sample])
    if scope == 'mmpretrain':
        return partial(model.forward, mode='tensor')
    return model._forward  # mmseg EncoderDecoder, mmpose TopdownPoseEstimator


def main():
    args = parse_args()
    height, width = (args.shape * 2)[:2]
    cfg = load_config(args.config)
    scope = cfg.get('default_scope', 'mmengine')
    DefaultScope.get_instance('get_flops', scope_name=scope)
    model = build_model(cfg)
    if args.backbone_only:
        model = model.backbone
        forward = model.forward
    else:
        forward = tensor_forward(model, scope, height, width)
    image = torch.zeros(1, 3, height, width)
    model.forward = forward
    with torch.no_grad():
        info = get_model_complexity_info(model, inputs=(image, ), show_table=args.show_table,
                                         show_arch=False)
    params = sum(p.numel() for p in model.parameters())
    print(f'config: {args.config}\ninput: 3x{height}x{width}'
          f'{" (backbone only)" if args.backbone_only else ""}')
    print(f'params: {params / 1e6:.2f} M ({params:,})')
    print(f'FLOPs (MACs, mmengine counter): {info["flops"] / 1e9:.1f} G')
    if args.show_table:
        print(info['out_table'])


if __name__ == '__main__':
    main()
