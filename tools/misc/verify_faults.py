#!/usr/bin/env python
"""Kill a training run with SIGKILL (--kills N) or preempt it with SIGTERM (--preempt N) at many
moments, inside checkpoint writes too; resume after each; check that nothing was lost and that it
ends exactly like an uninterrupted run.

Trains CONFIG once uninterrupted, then again with --kills N kills (every process: launcher,
torchrun agent and workers), each followed by `tools/train.py --resume`, with max_keep_ckpts=1.
The kills cycle through: a random moment before the next save; inside the write of the checkpoint
(MMMOGA_FAULT_SLOW_SAVE spreads each write over --slow-save seconds so that a kill can land in it);
as soon as it has its final name; as soon as last_checkpoint names it. A kill *loses* the run when
last_checkpoint then names a missing, truncated or older checkpoint (or is gone), or the resume
fails; the run then starts again from scratch. At the end the final weights and every validation
must equal the uninterrupted run's, with no temporary file and no extra checkpoint left. The
library is mmmoga/devtools/verify/faults.py. Last line: `N faults injected, S survived, L lost`;
the exit status is 1 on any loss (or a differing result), 2 for a schedule too short for --kills.

--preempt N sends SIGTERM instead, N times: inside a training iteration, inside validation, inside
a checkpoint write (to the launcher, one worker or every process, in turn, with --nproc 2). Each
launch must save and exit with status 75 (PreemptionHook); the next resumes mid-epoch. Last line:
`N preemptions, N resumed exactly, R iterations redone, 0 lost`, after the seconds from signal to
exit; the library is mmmoga/devtools/verify/preemption.py. With --plain-hook (mmengine's
CheckpointHook, no PreemptionHook, --no-rng-state) it shows what a preemption costs without them.

Examples (toy data: python tools/misc/make_toy_data.py --tasks coco):
  # 1 and 2 processes, 20 kills each: 8 training images (2 iterations per epoch), 6 epochs
  python tools/misc/verify_faults.py --nproc 1 --kills 20 --cfg-options train_cfg.max_epochs=6 \\
      train_dataloader.dataset.indices=8 val_dataloader.dataset.indices=8
  python tools/misc/verify_faults.py --nproc 2 --kills 20 --cfg-options train_cfg.max_epochs=6 \\
      train_dataloader.dataset.indices=8 val_dataloader.dataset.indices=8
  # the control: mmengine's own CheckpointHook must lose the run (exit status 1)
  python tools/misc/verify_faults.py --nproc 1 --kills 20 --plain-hook --cfg-options \\
      train_cfg.max_epochs=6 train_dataloader.dataset.indices=8 val_dataloader.dataset.indices=8
  # 20 preemptions (SIGTERM), 16 images (4 iterations per epoch), validated every epoch
  python tools/misc/verify_faults.py --nproc 1 --preempt 20 --cfg-options \\
      train_cfg.max_epochs=14 train_cfg.val_interval=1 train_dataloader.dataset.indices=16 \\
      val_dataloader.dataset.indices=8 val_dataloader.batch_size=1
"""
import os.path as osp
import sys

from mmmoga.devtools.verify.faults import inject_faults, print_report
from mmmoga.devtools.verify.preemption import inject_preemptions, print_preemption_report
from mmmoga.devtools.verify.runs import ScheduleError, parse_verifier_args, verifier_parser

TOOLS_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))  # train.py, dist_train.sh


def parse_args():
    parser = verifier_parser(
        __doc__,
        nproc=1,
        work_dir='work_dirs/verify_faults',
        holds='uninterrupted/ and faults/',
        port=29750)
    parser.add_argument(
        'config',
        nargs='?',
        default='configs/mask_rcnn_moganet_xt_toy.py',
        help='the config to train (default: the toy Mask R-CNN)')
    what = parser.add_mutually_exclusive_group()
    what.add_argument('--kills', type=int, default=20, help='SIGKILLs to inject (default: 20)')
    what.add_argument(
        '--preempt', type=int, metavar='N', help='send SIGTERM N times instead (preemptions)')
    parser.add_argument(
        '--plain-hook',
        action='store_true',
        help="save with mmengine's CheckpointHook instead of the config's (the control: loses); "
        'with --preempt also without PreemptionHook and RandomStateHook')
    parser.add_argument(
        '--slow-save',
        type=float,
        default=1.0,
        help='seconds each atomic checkpoint write, and each step after it, takes (default: 1)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the kill timings')
    args = parse_verifier_args(parser)
    if args.kills < 1:
        parser.error(f'--kills must be at least 1, got {args.kills}')
    if args.preempt is not None and args.preempt < 1:
        parser.error(f'--preempt must be at least 1, got {args.preempt}')
    if args.slow_save < 0:
        parser.error(f'--slow-save must be 0 or more seconds, got {args.slow_save}')
    return args


def main():
    args = parse_args()
    place = (args.config, TOOLS_DIR, args.nproc)
    common = dict(cfg_options=args.cfg_options, slow_save=args.slow_save, seed=args.seed)
    try:
        if args.preempt is not None:
            report = inject_preemptions(
                *place, args.preempt, args.work_dir, args.port, plain=args.plain_hook, **common)
        else:
            report = inject_faults(
                *place, args.kills, args.work_dir, args.port, plain_hook=args.plain_hook, **common)
    except ScheduleError as err:
        print(f'ERROR: {err}', file=sys.stderr)
        sys.exit(2)
    (print_report if args.preempt is None else print_preemption_report)(report)
    sys.exit(0 if report.ok else 1)


if __name__ == '__main__':
    main()
