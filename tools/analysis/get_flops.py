#!/usr/bin/env python
"""Count parameters and FLOPs of the model a config builds, with mmengine's counter.

FLOPs here are multiply-accumulates (the papers' convention: 1 MAC = 1 FLOP), counted by
``mmengine.analysis`` (fvcore-style); the papers used mmcv 1.x's counter, so figures differ
slightly. FFT ops (HorNet GF) are not counted by this counter. Detectors run their test-time
forward on one blank image (RPN proposals, RoI heads, masks), segmentors the whole-image decode,
pose models and classifiers their tensor forward. The counting code is
``mmmoga.devtools.complexity.count_complexity``, which the model zoo (tools/model_zoo.py) also uses.

Examples:
  python tools/analysis/get_flops.py configs/mask_rcnn_moganet_s.py --shape 800 1280
  python tools/analysis/get_flops.py configs/mask_rcnn_moganet_s.py --backbone-only --shape 224
"""
import argparse

import mmmoga  # noqa: F401
from mmmoga.devtools.complexity import count_complexity
from mmmoga.utils import load_config


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[800, 1280],
        help='input height and width (one value: square); default 800 1280')
    parser.add_argument('--backbone-only', action='store_true', help='count the backbone only')
    parser.add_argument('--show-table', action='store_true', help='per-module table')
    return parser.parse_args()


def main():
    args = parse_args()
    if len(args.shape) > 2:
        raise SystemExit(f'--shape takes 1 or 2 values (H W), got {args.shape}')
    height, width = (args.shape * 2)[:2]
    info = count_complexity(
        load_config(args.config),
        height,
        width,
        backbone_only=args.backbone_only,
        show_table=args.show_table)
    print(f'config: {args.config}\ninput: 3x{height}x{width}'
          f'{" (backbone only)" if args.backbone_only else ""}')
    print(f'params: {info["params"] / 1e6:.2f} M ({info["params"]:,})')
    print(f'FLOPs (MACs, mmengine counter): {info["flops"] / 1e9:.1f} G ({info["flops"]:,})')
    if args.show_table:
        print(info['table'])


if __name__ == '__main__':
    main()
