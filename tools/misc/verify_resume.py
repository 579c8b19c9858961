#!/usr/bin/env python
"""Check that a killed-and-resumed training run ends exactly like an uninterrupted one.

Trains CONFIG twice with the same seed, on --nproc processes (1: tools/train.py; more:
tools/dist_train.sh, gloo on machines without a GPU): once uninterrupted, once killed with SIGKILL
(every process of the run: launcher, torchrun agent and workers) as soon as the config's own
CheckpointHook has written its first checkpoint, then restarted with --resume from that checkpoint.
The config's own schedule and validation interval are used; change them with --cfg-options.
Compares every validation after the resume point (all metrics, at full precision) and the final
weights, and exits with 1 when they differ or when a process of the killed run survived.

Examples:
  # toy Mask R-CNN, validation every epoch, 2 CPU processes
  python tools/misc/verify_resume.py configs/mask_rcnn_moganet_xt_toy.py --nproc 2 \\
      --cfg-options train_cfg.max_epochs=3 train_cfg.val_interval=1
  # the control: without RandomStateHook the resumed run must differ (exit status 1)
  python tools/misc/verify_resume.py configs/mask_rcnn_moganet_xt_toy.py --nproc 1 \\
      --no-rng-state --cfg-options train_cfg.max_epochs=3 train_cfg.val_interval=1
"""
import argparse
import os
import os.path as osp
import shutil
import sys
import time

from mmengine.config import Config

from mmmoga.verify.runs import (Run, ScheduleError, compare_runs, parse_cfg_options, schedule,
                                validations)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config')
    parser.add_argument('--nproc', type=int, default=2, help='training processes (default: 2)')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/verify_resume',
        help='holds uninterrupted/ and killed/ (emptied first)')
    parser.add_argument('--port', type=int, default=29650, help='first torchrun master port')
    parser.add_argument(
        '--no-rng-state',
        action='store_true',
        help='pass --no-rng-state to tools/train.py (the control: must differ)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='config overrides for all three runs, e.g. train_cfg.max_epochs=3')
    args = parser.parse_args()
    if args.nproc < 1:
        parser.error(f'--nproc must be at least 1, got {args.nproc}')
    return args


def main():
    args = parse_args()
    if not osp.isdir('/proc'):
        sys.exit('ERROR: verify_resume.py finds the processes of a run through /proc (Linux)')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
    try:
        unit, _, first, last, val_interval = schedule(cfg)
    except ScheduleError as err:
        sys.exit(f'ERROR: {err}')
    seed = (cfg.get('randomness') or {}).get('seed')
    options = ([] if seed is not None else ['randomness.seed=0']) + list(args.cfg_options)
    flags = ['--no-rng-state'] if args.no_rng_state else []
    print(
        f'{args.config}: {last} {unit}s, validation every {val_interval}, first checkpoint '
        f'after {unit} {first}; seed {0 if seed is None else seed}; {args.nproc} process(es)'
        f'{"; WITHOUT RandomStateHook (control)" if args.no_rng_state else ""}',
        flush=True)

    full, killed = osp.join(args.work_dir, 'uninterrupted'), osp.join(args.work_dir, 'killed')
    for d in (full, killed):  # start empty: a stale checkpoint would trigger the kill at once
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)

    def launch(work_dir, port, extra=()):
        return Run(args.config, args.nproc, work_dir, port, options, [*extra, *flags])

    reference = validations(launch(full, args.port).wait('uninterrupted run'))

    run = launch(killed, args.port + 1)
    pointer = osp.join(killed, 'last_checkpoint')  # written by CheckpointHook after the file
    while not osp.isfile(pointer) and run.process.poll() is None:
        time.sleep(0.1)
    if not osp.isfile(pointer):
        sys.exit(f'ERROR: the run ended (exit status {run.process.returncode}) before writing a '
                 f'checkpoint, see {run.log}')
    with open(pointer) as f:
        checkpoint = f.read().strip()
    killed_processes = run.kill_all()
    print(
        f'killed the second run {time.time() - run.start:.0f} s after its start, once '
        f'{osp.basename(checkpoint)} was written: SIGKILL to {len(killed_processes)} '
        f'processes',
        flush=True)
    for pid, cmdline in sorted(killed_processes.items()):
        print(f'  {pid}: {cmdline[:150]}')
    time.sleep(1)
    survivors = run.processes()
    if survivors:
        for pid, cmdline in survivors.items():
            print(f'  STILL ALIVE {pid}: {cmdline[:150]}')
        sys.exit(f'FAILED: {len(survivors)} process(es) of the killed run survived SIGKILL')
    print('no process of the killed run is left alive')

    resumed = validations(
        launch(killed, args.port + 2,
               ['--resume', checkpoint]).wait(f'resumed run (from {osp.basename(checkpoint)})'))
    ok = compare_runs(reference, [resumed], full, killed, unit)
    print('RESUME IS EXACT' if ok else 'RESUME IS NOT EXACT')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
