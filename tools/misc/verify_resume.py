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
import os.path as osp
import sys
import time

from mmmoga.devtools.verify.runs import (Run, ScheduleError, compare_runs, fresh_dirs, load_config,
                                         parse_verifier_args, schedule, validations,
                                         verifier_parser)

TOOLS_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))  # train.py, dist_train.sh


def parse_args():
    parser = verifier_parser(
        __doc__,
        nproc=2,
        work_dir='work_dirs/verify_resume',
        holds='uninterrupted/ and killed/',
        port=29650)
    parser.add_argument('config')
    parser.add_argument(
        '--no-rng-state',
        action='store_true',
        help='pass --no-rng-state to tools/train.py (the control: must differ)')
    return parse_verifier_args(parser)


def main():
    args = parse_args()
    cfg, options = load_config(args.config, args.cfg_options)
    try:
        unit, _, first, last, val_interval = schedule(cfg)
    except ScheduleError as err:
        sys.exit(f'ERROR: {err}')
    seed = (cfg.get('randomness') or {}).get('seed')
    flags = ['--no-rng-state'] if args.no_rng_state else []
    print(
        f'{args.config}: {last} {unit}s, validation every {val_interval}, first checkpoint '
        f'after {unit} {first}; seed {0 if seed is None else seed}; {args.nproc} process(es)'
        f'{"; WITHOUT RandomStateHook (control)" if args.no_rng_state else ""}',
        flush=True)

    full, killed = osp.join(args.work_dir, 'uninterrupted'), osp.join(args.work_dir, 'killed')
    fresh_dirs(full, killed)  # a stale checkpoint would trigger the kill at once

    def launch(work_dir, port, extra=()):
        return Run(args.config, TOOLS_DIR, args.nproc, work_dir, port, options, [*extra, *flags])

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
