#!/usr/bin/env python
"""Train any mmmoga (or OpenMMLab) config; the config's default_scope picks the task library.

Examples:
  python tools/train.py configs/mask_rcnn_moganet_s.py
  python tools/train.py configs/mask_rcnn_moganet_xt_toy.py --resume          # latest checkpoint
  tools/dist_train.sh configs/mask_rcnn_moganet_s.py 8                  # 8 GPUs (or CPU procs)

Exit status 75: preempted (SIGTERM); a checkpoint was saved at the iteration it reached (see
PreemptionHook): run the same command with --resume to continue.
"""
import argparse
import os.path as osp
import sys

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmmoga  # noqa: F401  (registers mmmoga's modules and torch>=2.6 checkpoint allow-list)
from mmmoga.engine import PREEMPTED_EXIT_STATUS, NonFiniteError, TrainingPreempted
from mmmoga.utils import (CheckpointError, DatasetError, DictAction, check_dataset_paths,
                          load_config, plain_checkpoint_hook_warning, shut_down_distributed,
                          trust_checkpoint)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where to save logs and checkpoints')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or without a value from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--unsafe-unpickle',
        action='store_true',
        help='load the checkpoint named on this command line (--resume PATH, or '
        'load_from) with a full unpickle (weights_only=False), which runs any code '
        'the file contains; only for a file you trust that pickles more than '
        'tensors, numpy arrays and mmengine\'s log buffers')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the LR by the actual total batch size (auto_scale_lr)')
    parser.add_argument(
        '--no-rng-state',
        action='store_true',
        help='do not add RandomStateHook (which stores RNG states in checkpoints '
        'so that a resumed run continues exactly like an uninterrupted one)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_dataloader.batch_size=4')
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
        check_dataset_paths(cfg, ['train_dataloader', 'val_dataloader'], args.config)
    except (FileNotFoundError, DatasetError, SyntaxError) as err:
        sys.exit(f'ERROR: {err}')

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            sys.exit('ERROR: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            sys.exit(f'ERROR: --resume checkpoint not found: {args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    if args.unsafe_unpickle:
        named = args.resume if args.resume not in (None, 'auto') else cfg.get('load_from')
        if not named:
            sys.exit('ERROR: --unsafe-unpickle applies only to a checkpoint named on the command '
                     'line: give it as --resume PATH or --cfg-options load_from=PATH')
        trust_checkpoint(named)
    if not args.no_rng_state:
        hooks = list(cfg.get('custom_hooks') or [])
        if not any(h.get('type', '').endswith('RandomStateHook') for h in hooks):
            hooks.append(dict(type='mmmoga.RandomStateHook'))
        cfg.custom_hooks = hooks

    warning = plain_checkpoint_hook_warning(cfg)
    if warning:
        print(f'WARNING: {warning}', file=sys.stderr)

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    try:
        runner.train()
    except (CheckpointError, NonFiniteError) as err:
        # a refused, truncated, missing or unwritable checkpoint (full disk), or a diverged run:
        # the message says what was kept and what to do
        sys.exit(f'ERROR: {err}')
    except TrainingPreempted:
        # saved (or nothing new to save) on a preemption signal; the log says where
        shut_down_distributed()
        sys.exit(PREEMPTED_EXIT_STATUS)
    shut_down_distributed()


if __name__ == '__main__':
    main()
