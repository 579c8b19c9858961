#!/usr/bin/env python
"""Evaluate a checkpoint with any mmmoga (or OpenMMLab) config and print the task's metrics.

Examples:
  python tools/test.py configs/mask_rcnn_moganet_s.py work_dirs/mask_rcnn_moganet_s/epoch_12.pth
  tools/dist_test.sh configs/mask_rcnn_moganet_s.py CHECKPOINT 8
"""
import argparse
import json
import os.path as osp
import sys

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmmoga  # noqa: F401
from mmmoga.utils import DictAction, check_dataset_paths, load_config


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument('--work-dir', help='where to save the evaluation logs')
    parser.add_argument('--out-json', help='also write the metrics to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.batch_size=4')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    try:
        check_dataset_paths(cfg, ['test_dataloader'], args.config)
    except FileNotFoundError as err:
        sys.exit(f'ERROR: {err}')
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        sys.exit(f'ERROR: checkpoint not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        print('\nMetrics:')
        for key, value in metrics.items():
            print(f'  {key}: {value:.4f}' if isinstance(value, float) else f'  {key}: {value}')
        if args.out_json:
            with open(args.out_json, 'w') as f:
                json.dump(metrics, f, indent=2, default=str)


if __name__ == '__main__':
    main()
