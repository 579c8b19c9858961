#!/usr/bin/env python
"""Export the backbone of a config (the whole classifier for ImageNet configs) to ONNX and check it
with onnxruntime against PyTorch at two input sizes.

The graph takes normalised images (N, 3, H, W) with dynamic batch, height and width; HorNet's
global filter is exported through its exact DFT-as-matrix-products path. The library behind this
command line is :mod:`mmmoga.deployment`.

Examples:
  python tools/deployment/export_onnx.py configs/mask_rcnn_moganet_s.py \\
      work_dirs/mask_rcnn_moganet_s/epoch_12.pth --out work_dirs/onnx/moganet_s_backbone.onnx
  # an ImageNet classifier (logits), checked at 224x224 and 288x320
  python tools/deployment/export_onnx.py configs/imagenet_hornet_t_gf.py hornet_tiny_gf.pth \\
      --out hornet_t_gf.onnx --check-shapes 224 224 288 320
"""
import argparse
import os.path as osp
import sys

from mmmoga.deployment import build_exportable, check_onnx, export_onnx
from mmmoga.deployment.onnx_export import PARTS
from mmmoga.utils import CheckpointError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='config file')
    parser.add_argument(
        'checkpoint',
        help='checkpoint of the model or of its backbone (path or '
        'URL); "none" exports freshly initialised weights')
    parser.add_argument('--out', help='output .onnx file (default: work_dirs/onnx/<config>.onnx)')
    parser.add_argument(
        '--part',
        choices=PARTS,
        default='auto',
        help='backbone, classifier (ImageNet configs) or auto (default)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[224, 224],
        metavar=('H', 'W'),
        help='input size the graph is traced at (default 224 224)')
    parser.add_argument(
        '--check-shapes',
        type=int,
        nargs='+',
        default=[224, 224, 256, 320],
        metavar='H W',
        help='input sizes (H W pairs) of the onnxruntime check (default 224 224 '
        '256 320)')
    parser.add_argument(
        '--tolerance',
        type=float,
        default=1e-4,
        help='largest allowed |onnx - torch| relative to the output magnitude')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument(
        '--fuse',
        action='store_true',
        help='fold BNs and scales into the convs first (fuse_for_inference)')
    parser.add_argument('--no-check', action='store_true', help='skip the onnxruntime check')
    parser.add_argument(
        '--unsafe-unpickle',
        action='store_true',
        help='load CHECKPOINT with a full unpickle (runs any code it contains); '
        'only for a file you trust')
    args = parser.parse_args(argv)
    if len(args.check_shapes) % 2:
        parser.error(f'--check-shapes takes H W pairs, got {len(args.check_shapes)} numbers')
    if min(args.shape + args.check_shapes) < 32:
        parser.error('input sizes must be >= 32 (the backbones downsample by 32)')
    return args


def main(argv=None):
    args = parse_args(argv)
    out = args.out or osp.join('work_dirs', 'onnx',
                               osp.splitext(osp.basename(args.config))[0] + '.onnx')
    checkpoint = None if args.checkpoint.lower() == 'none' else args.checkpoint
    try:
        module, part = build_exportable(args.config, checkpoint, args.part, args.fuse,
                                        args.unsafe_unpickle)
    except (FileNotFoundError, ValueError, CheckpointError) as err:
        sys.exit(f'ERROR: {err}')
    names = export_onnx(module, out, tuple(args.shape), args.opset)
    print(f'wrote {out}: {part}, outputs {", ".join(names)}')
    if args.no_check:
        return []
    sizes = [tuple(args.check_shapes[i:i + 2]) for i in range(0, len(args.check_shapes), 2)]
    try:
        results = check_onnx(module, out, sizes, tolerance=args.tolerance)
    except ValueError as err:
        sys.exit(f'ERROR: {err}')
    for result in results:
        print(f'onnxruntime vs PyTorch at {result["size"][0]}x{result["size"][1]}: max |diff| '
              f'{result["max_abs_diff"]:.2e} (outputs up to {result["max_abs_output"]:.2e}, '
              f'relative {result["relative"]:.1e}) -> OK')
    return results


if __name__ == '__main__':
    main()
