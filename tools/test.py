#!/usr/bin/env python
"""Evaluate a checkpoint with any mmmoga (or OpenMMLab) config and print the task's metrics.

Examples:
  python tools/test.py configs/mask_rcnn_moganet_s.py work_dirs/mask_rcnn_moganet_s/epoch_12.pth
  tools/dist_test.sh configs/mask_rcnn_moganet_s.py CHECKPOINT 8
  python tools/test.py configs/upernet_hornet_s_gf.py CHECKPOINT --tta   # ms+flip mIoU
"""
import argparse
import json
import os.path as osp
import sys

from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmmoga  # noqa: F401
from mmmoga.models import fuse_for_inference
from mmmoga.utils import (CheckpointError, DatasetError, DictAction, check_dataset_paths,
                          load_config, shut_down_distributed, trust_checkpoint)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file (path or URL)')
    parser.add_argument(
        '--unsafe-unpickle',
        action='store_true',
        help='load CHECKPOINT with a full unpickle (weights_only=False), which '
        'runs any code the file contains; only for a file you trust that pickles '
        'more than tensors, numpy arrays and mmengine\'s log buffers')
    parser.add_argument('--work-dir', help='where to save the evaluation logs')
    parser.add_argument('--out-json', help='also write the metrics to this JSON file')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: the config\'s tta_pipeline (e.g. the '
        'multi-scale + flip test of the "ms" columns) merged by its tta_model')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=4')
    parser.add_argument(
        '--fuse',
        action='store_true',
        help='fold BatchNorms and scales into the convs before testing '
        '(mmmoga.models.fuse_for_inference: same outputs within fp32 rounding)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
        check_dataset_paths(cfg, ['test_dataloader'], args.config)
    except (FileNotFoundError, DatasetError, SyntaxError) as err:
        sys.exit(f'ERROR: {err}')
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        sys.exit(f'ERROR: checkpoint not found: {args.checkpoint}')
    cfg.load_from = args.checkpoint
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            sys.exit(f'ERROR: --tta needs tta_model and tta_pipeline in {args.config}; '
                     'add them to the config (mmseg and mmdet define them in their bases)')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.unsafe_unpickle:
        trust_checkpoint(args.checkpoint)

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    try:
        if args.fuse:
            runner.load_or_resume()  # the weights first (runner.test() does not load them again)
            fuse_for_inference(
                runner.model.module if is_model_wrapper(runner.model) else runner.model)
        metrics = runner.test()
    except CheckpointError as err:  # refused, truncated or corrupt checkpoint: say what to do
        sys.exit(f'ERROR: {err}')
    if runner.rank == 0:
        print('\nMetrics:')
        for key, value in metrics.items():
            print(f'  {key}: {value:.4f}' if isinstance(value, float) else f'  {key}: {value}')
        if args.out_json:
            with open(args.out_json, 'w') as f:
                json.dump(metrics, f, indent=2, default=str)
    shut_down_distributed()


if __name__ == '__main__':
    main()
