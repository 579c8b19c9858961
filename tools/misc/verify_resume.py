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
import glob
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time
import uuid

import torch
from mmengine.config import Config, DictAction

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MARKER = 'MMMOGA_VERIFY_RESUME_RUN'
NOT_METRICS = {'step', 'epoch', 'iter', 'time', 'data_time', 'memory', 'lr', 'base_lr'}


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


def parse_cfg_options(options):
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *options]).o if options else {}


def schedule(cfg):
    """(unit, first checkpoint step, last step, validation interval) of the config."""
    train_cfg = cfg.train_cfg
    by_epoch = train_cfg.get('by_epoch', 'IterBased' not in str(train_cfg.get('type', '')))
    unit = 'epoch' if by_epoch else 'iteration'
    last = train_cfg.max_epochs if by_epoch else train_cfg.max_iters
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not hook:
        sys.exit('ERROR: the config has no default_hooks.checkpoint: nothing to resume from')
    if hook.get('by_epoch', True) != by_epoch:
        sys.exit(f'ERROR: the train loop counts in {unit}s but default_hooks.checkpoint.by_epoch '
                 f'is {hook.get("by_epoch", True)}; set it to {by_epoch}')
    interval, begin = hook.get('interval', -1), hook.get('save_begin', 0)
    first = begin if begin > 0 else interval
    if interval <= 0 or first >= last:
        sys.exit(f'ERROR: the first checkpoint ({unit} {first}) is not before the end of training '
                 f'({unit} {last}): nothing left to resume. Lower default_hooks.checkpoint.'
                 f'interval or raise the schedule with --cfg-options.')
    val_interval = train_cfg.get('val_interval', 1 if by_epoch else 1000)
    return unit, first, last, val_interval


class Run:
    """One training launch; every process it starts carries MARKER=token in its environment."""

    def __init__(self, args, work_dir, port, extra=()):
        self.token = uuid.uuid4().hex
        if args.nproc == 1:
            command = [sys.executable, osp.join(ROOT, 'tools/train.py'), args.config]
        else:
            command = ['bash', osp.join(ROOT, 'tools/dist_train.sh'), args.config, str(args.nproc)]
        command += ['--work-dir', work_dir, *extra]
        if args.no_rng_state:
            command.append('--no-rng-state')
        command += ['--cfg-options', *args.seed_options, *args.cfg_options]
        env = dict(os.environ, PORT=str(port), **{MARKER: self.token})
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [ROOT, env.get('PYTHONPATH')]))
        self.log_dirs = set(glob.glob(osp.join(work_dir, '2*')))
        self.work_dir, self.log = work_dir, osp.join(work_dir, 'launcher.log')
        with open(self.log, 'a') as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True)
        self.start = time.time()

    def wait(self, what):
        if self.process.wait():
            sys.exit(f'ERROR: the {what} failed (exit status {self.process.returncode}), see '
                     f'{self.log}')
        print(f'{what}: {time.time() - self.start:.0f} s', flush=True)
        new = sorted(set(glob.glob(osp.join(self.work_dir, '2*'))) - self.log_dirs)
        if not new:
            sys.exit(f'ERROR: the {what} wrote no log folder in {self.work_dir}')
        return new[-1]

    def processes(self):
        """Alive processes (not zombies) whose environment carries this run's token."""
        found = {}
        entry = f'{MARKER}={self.token}'.encode()
        for pid in filter(str.isdigit, os.listdir('/proc')):
            try:
                with open(f'/proc/{pid}/environ', 'rb') as f:
                    if entry not in f.read().split(b'\0'):
                        continue
                with open(f'/proc/{pid}/stat') as f:
                    if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                        continue
                with open(f'/proc/{pid}/cmdline', 'rb') as f:
                    found[int(pid)] = f.read().replace(b'\0', b' ').decode(errors='replace')
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return found

    def kill_all(self):
        """SIGKILL every process of the run, until none is left; returns what was killed."""
        killed = {}
        deadline = time.time() + 30
        while time.time() < deadline:
            alive = self.processes()
            if not alive:
                break
            for pid, cmdline in alive.items():
                killed.setdefault(pid, cmdline)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        self.process.wait()
        return killed


def validations(log_dir):
    """{step: metrics} of every validation logged in a run's vis_data/scalars.json."""
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    if not osp.isfile(path):
        sys.exit(f'ERROR: {path} not found: the run logged no scalars (is LocalVisBackend off?)')
    result = {}
    for line in open(path):
        record = json.loads(line)
        if any(key.startswith('loss') for key in record):
            continue  # a training log line
        result[record['step']] = {k: v for k, v in record.items() if k not in NOT_METRICS}
    return result


def final_weights(work_dir):
    from mmmoga.utils.checkpoint import load_checkpoint_file  # weights_only, scoped allow-list
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    return path, load_checkpoint_file(path)['state_dict']


def main():
    args = parse_args()
    if not osp.isdir('/proc'):
        sys.exit('ERROR: verify_resume.py finds the processes of a run through /proc (Linux)')
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
    unit, first, last, val_interval = schedule(cfg)
    seed = (cfg.get('randomness') or {}).get('seed')
    args.seed_options = [] if seed is not None else ['randomness.seed=0']
    print(
        f'{args.config}: {last} {unit}s, validation every {val_interval}, first checkpoint '
        f'after {unit} {first}; seed {0 if seed is None else seed}; {args.nproc} process(es)'
        f'{"; WITHOUT RandomStateHook (control)" if args.no_rng_state else ""}',
        flush=True)

    full, killed = osp.join(args.work_dir, 'uninterrupted'), osp.join(args.work_dir, 'killed')
    for d in (full, killed):  # start empty: a stale checkpoint would trigger the kill at once
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)

    reference = validations(Run(args, full, args.port).wait('uninterrupted run'))

    run = Run(args, killed, args.port + 1)
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
        Run(args, killed, args.port + 2,
            ['--resume', checkpoint]).wait(f'resumed run (from {osp.basename(checkpoint)})'))

    ok = True
    if not resumed:
        print('the resumed run logged no validation')
        ok = False
    for step in sorted(resumed):
        same = reference.get(step) == resumed[step]
        ok &= same
        print(f'validation at {unit} {step}: {"identical" if same else "DIFFERENT"}')
        if not same:
            print(f'  uninterrupted: {reference.get(step)}')
            print(f'  resumed:       {resumed[step]}')
    final_step = max(reference)
    print(f'final metrics ({unit} {final_step}):')
    print(f'  uninterrupted: {reference[final_step]}')
    print(f'  resumed:       {resumed.get(final_step)}')

    path_a, weights_a = final_weights(full)
    path_b, weights_b = final_weights(killed)
    if osp.basename(path_a) != osp.basename(path_b) or weights_a.keys() != weights_b.keys():
        print(f'final checkpoints do not correspond: {path_a} vs {path_b}')
        ok = False
    else:
        different = [k for k in weights_a if not torch.equal(weights_a[k], weights_b[k])]
        largest = max(
            (float((weights_a[k].double() - weights_b[k].double()).abs().max()) for k in different),
            default=0.0)
        print(f'final weights ({osp.basename(path_a)}): ' +
              (f'identical, all {len(weights_a)} tensors' if not different else
               f'{len(different)} of {len(weights_a)} tensors DIFFER (largest difference '
               f'{largest:.3g}, e.g. {different[0]})'))
        ok &= not different
    print('RESUME IS EXACT' if ok else 'RESUME IS NOT EXACT')
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
