#!/usr/bin/env python
"""Time the training step of whole detectors and segmentors and measure its peak memory.

For every config and ``with_cp`` setting (and, with ``--compare-reference``, for the backbone
computed op by op as the official code does, ``reference_ops=True``, against the default ops) it
builds the config's model, feeds it synthetic data of ``--size`` and prints seconds per training
step and peak memory, with the default / reference ratios. Pretrained backbone weights are not
loaded (nothing is downloaded). On CPU each setting runs in a fresh interpreter (``--isolate``).

The measurement lives in :mod:`mmmoga.devtools.benchmark.task`; this is its command line. What is
measured and how is explained at the end of ``--help``.

Examples::

  # Mask R-CNN + MogaNet-S at 1333x800, batch 2, with and without with_cp, before / after
  python tools/analysis/benchmark_task.py configs/mask_rcnn_moganet_s.py --batch 2 \\
      --size 800 1333 --iters 5 --warmup 2 --with-cp both --compare-reference --markdown \\
      --json work_dirs/benchmark/task_mask_rcnn_moganet_s.json
  # UperNet + MogaNet-S at 512x512, the same way
  python tools/analysis/benchmark_task.py configs/upernet_moganet_s.py --batch 2 \\
      --size 512 512 --iters 5 --warmup 2 --with-cp both --compare-reference --markdown
  # what a user of the Mask R-CNN config gets from its backbone (CPU: the layout the backbone
  # picks by device) against the official op sequence in NCHW: inference and training step
  python tools/analysis/benchmark_task.py configs/mask_rcnn_moganet_s.py --backbone-only \
      --batch 2 --size 800 1344 --iters 2 --warmup 1 --compare-reference --markdown
  # a quick look at the toy configs
  python tools/analysis/benchmark_task.py configs/mask_rcnn_moganet_xt_toy.py \\
      configs/semfpn_moganet_xt_toy.py --batch 1 --size 128 128 --iters 1 --warmup 0
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import torch
from mmengine.config import DictAction

from mmmoga.devtools.benchmark import task
from mmmoga.devtools.benchmark.run import ISOLATE_CHOICES


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='benchmark_task.py',
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1] + '\n\n' + task.__doc__.split('\n\n', 1)[1])
    parser.add_argument('configs', nargs='+', metavar='CONFIG', help='mmdet or mmseg configs')
    parser.add_argument('--batch', type=int, default=2, help='images per step (default 2)')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        required=True,
        metavar=('H', 'W'),
        help='image height and width, e.g. 800 1333 (detection) or 512 512 (segmentation)')
    parser.add_argument('--iters', type=int, default=3, help='timed steps (default 3)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps first (default 1)')
    parser.add_argument(
        '--repeat',
        type=int,
        default=1,
        help='measure every setting this many times, its ops interleaved, and keep its median '
        'round; with --compare-reference the JSON has each round\'s ratio (default 1)')
    parser.add_argument(
        '--with-cp',
        choices=tuple(task.CP_SETTINGS),
        default='off',
        help='backbone activation checkpointing: off, on or both (default off)')
    parser.add_argument(
        '--dtype',
        choices=('fp32', 'bf16', 'fp16'),
        default='fp32',
        help='fp32, or bf16/fp16 autocast (fp16 with a GradScaler); default fp32')
    parser.add_argument(
        '--backbone-only',
        action='store_true',
        help='time the config\'s backbone alone, as the config builds it: inference and a '
        'training step (see --modes)')
    parser.add_argument(
        '--modes',
        nargs='+',
        choices=('infer', 'train'),
        default=None,
        help='with --backbone-only: infer and/or train (default both); the whole model is '
        'timed in training only')
    parser.add_argument(
        '--compare-reference',
        action='store_true',
        help='also run every setting with model.backbone.reference_ops=True (the official '
        'op-by-op block, "before") and print default / reference ratios')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='override config settings, as in tools/train.py (key=value)')
    parser.add_argument(
        '--threads', type=int, default=None, help='torch CPU threads (default: torch\'s default)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument(
        '--isolate',
        choices=ISOLATE_CHOICES,
        default='auto',
        help='process: every setting in a fresh interpreter (reliable CPU peak memory); none: '
        'all in this process; auto (default): process on CPU, none on CUDA')
    parser.add_argument(
        '--timeout', type=float, default=3600, help='seconds per isolated setting (default 3600)')
    parser.add_argument('--markdown', action='store_true', help='print the table as Markdown')
    parser.add_argument('--json', metavar='OUT', help='also write every figure to this JSON file')
    args = parser.parse_args(argv)
    for field in ('batch', 'iters', 'repeat'):
        if getattr(args, field) < 1:
            parser.error(f'--{field} must be >= 1')
    if min(args.size) < 32:
        parser.error(f'--size {args.size[0]} {args.size[1]}: both sides must be >= 32 (the '
                     'backbones downsample by 32)')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available (use --device cpu)')
    if args.modes and not args.backbone_only and args.modes != ['train']:
        parser.error('--modes infer needs --backbone-only (the whole model is timed in training)')
    args.modes = list(
        dict.fromkeys(args.modes or (['infer', 'train'] if args.backbone_only else ['train'])))
    args.configs = list(dict.fromkeys(args.configs))
    try:  # bad input fails here, before anything is timed
        task.check_configs(args.configs, args.cfg_options, args.compare_reference)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the benchmark; print the table and notes and return the report (also written by
    ``--json``)."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = task.run_task_benchmark(
        args.configs,
        batch=args.batch,
        size=tuple(args.size),
        iters=args.iters,
        warmup=args.warmup,
        with_cp=args.with_cp,
        compare_reference=args.compare_reference,
        cfg_options=args.cfg_options,
        threads=args.threads,
        device=args.device,
        isolate=args.isolate == 'process' or (args.isolate == 'auto' and args.device == 'cpu'),
        timeout=args.timeout,
        log=lambda message: print(message, file=sys.stderr, flush=True),
        dtype=args.dtype,
        part='backbone' if args.backbone_only else 'model',
        modes=args.modes,
        repeat=args.repeat)
    print(task.task_table(report, args.markdown))
    print()
    for note in task.task_notes(report):
        print(('- ' if args.markdown else '') + note)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
