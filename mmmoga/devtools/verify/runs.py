"""Training launches that can be killed from outside, and the comparison of two runs.

Shared by ``tools/misc/verify_resume.py`` (a kill between checkpoints) and
``tools/misc/verify_faults.py`` (kills at many moments, also inside checkpoint writes):

* :class:`Run` starts ``train.py`` (1 process) or ``dist_train.sh`` (torchrun, gloo on
  machines without a GPU) of the ``tools`` folder its command line names, with a marker in the
  environment of every process it starts, finds them all through ``/proc`` (torchrun starts its
  workers in their own sessions, so a process group does not reach them) and SIGKILLs them until
  none is left. Children get the folder that holds this ``mmmoga`` package first on
  ``PYTHONPATH``, so they run this checkout's code.
* :func:`schedule`, :func:`validations`, :func:`final_weights` and :func:`compare_runs` read a
  config's checkpoint schedule, the validations a run logged, and its last checkpoint.
* :func:`verifier_parser`, :func:`parse_verifier_args`, :func:`load_config` and
  :func:`fresh_dirs`: the command line, config loading and work dirs both verifiers share.
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
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction

from .. import PACKAGE_PARENT

__all__ = [
    'MARKER', 'Run', 'ScheduleError', 'parse_cfg_options', 'schedule', 'validations',
    'final_weights', 'compare_runs', 'verifier_parser', 'parse_verifier_args', 'load_config',
    'fresh_dirs'
]

#: environment variable carried by every process of a :class:`Run` (value: the run's token)
MARKER = 'MMMOGA_VERIFY_RUN'
NOT_METRICS = {'step', 'epoch', 'iter', 'time', 'data_time', 'memory', 'lr', 'base_lr'}


class ScheduleError(ValueError):
    """The config's schedule cannot serve the check; the message says what to change."""


def parse_cfg_options(options: Sequence[str]) -> dict:
    """``['a.b=1', 'c=[x,y]']`` -> the dict ``--cfg-options`` gives (mmengine's DictAction)."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *options]).o if options else {}


def verifier_parser(doc: str, nproc: int, work_dir: str, holds: str,
                    port: int) -> argparse.ArgumentParser:
    """The command line of a verifier: ``doc`` (the tool's docstring) as description and epilog,
    ``--nproc``, ``--work-dir`` (holding ``holds``), ``--port`` and ``--cfg-options``; the tool
    adds ``config`` and its own options."""
    parser = argparse.ArgumentParser(
        description=doc.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc.split('\n\n', 1)[1])
    parser.add_argument(
        '--nproc', type=int, default=nproc, help=f'training processes (default: {nproc})')
    parser.add_argument('--work-dir', default=work_dir, help=f'holds {holds} (emptied first)')
    parser.add_argument('--port', type=int, default=port, help='first torchrun master port')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='config overrides for every run, e.g. train_cfg.max_epochs=6')
    return parser


def parse_verifier_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and stop with a clear error on a bad ``--nproc``, a missing config or no ``/proc``
    (the runs' processes are found through it)."""
    args = parser.parse_args()
    if args.nproc < 1:
        parser.error(f'--nproc must be at least 1, got {args.nproc}')
    if not osp.isfile(args.config):
        parser.error(f'config not found: {args.config}')
    if not osp.isdir('/proc'):
        parser.error('the processes of a run are found through /proc: run this on Linux')
    return args


def load_config(config: str, options: Sequence[str]) -> Tuple[Config, List[str]]:
    """The config with ``options`` merged, and the options every launch gets: ``options`` plus
    ``randomness.seed=0`` when the config sets no seed (both runs must draw the same numbers)."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(parse_cfg_options(options))
    seeded = (cfg.get('randomness') or {}).get('seed') is not None
    return cfg, list(options) + ([] if seeded else ['randomness.seed=0'])


def fresh_dirs(*folders: str) -> None:
    """Empty (or create) ``folders``: a stale checkpoint would be taken for a new one."""
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)


def schedule(cfg: Config) -> Tuple[str, int, int, int, int]:
    """(unit, checkpoint interval, first checkpoint step, last step, validation interval).

    Raises:
        ScheduleError: no checkpoint hook, a ``by_epoch`` that differs from the loop's, or no
            checkpoint before the end of training.
    """
    train_cfg = cfg.train_cfg
    by_epoch = train_cfg.get('by_epoch', 'IterBased' not in str(train_cfg.get('type', '')))
    unit = 'epoch' if by_epoch else 'iteration'
    last = train_cfg.max_epochs if by_epoch else train_cfg.max_iters
    hook = (cfg.get('default_hooks') or {}).get('checkpoint')
    if not hook:
        raise ScheduleError('the config has no default_hooks.checkpoint: nothing to resume from')
    if hook.get('by_epoch', True) != by_epoch:
        raise ScheduleError(
            f'the train loop counts in {unit}s but default_hooks.checkpoint.by_epoch '
            f'is {hook.get("by_epoch", True)}; set it to {by_epoch}')
    interval, begin = hook.get('interval', -1), hook.get('save_begin', 0)
    first = begin if begin > 0 else interval
    if interval <= 0 or first >= last:
        raise ScheduleError(
            f'the first checkpoint ({unit} {first}) is not before the end of training ({unit} '
            f'{last}): nothing left to resume. Lower default_hooks.checkpoint.interval or raise '
            f'the schedule with --cfg-options.')
    val_interval = train_cfg.get('val_interval', 1 if by_epoch else 1000)
    return unit, interval, first, last, val_interval


class Run:
    """One training launch; every process it starts carries ``MARKER=<token>``.

    Args:
        config: the config file.
        tools_dir: the ``tools`` folder of the command lines run (``train.py``,
            ``dist_train.sh``): the verifier's own command line passes its own; the folder above
            it is the working directory (the configs' relative data paths start there).
        nproc: 1 runs ``tools/train.py``; more run ``tools/dist_train.sh CONFIG nproc``.
        work_dir: the run's work dir; ``launcher.log`` there collects the output of all launches.
        port: torchrun's master port (``PORT`` of dist_train.sh); use a fresh one per launch.
        options: ``--cfg-options`` entries.
        extra: more arguments of tools/train.py (``--resume``, ``--no-rng-state``).
        env: more environment variables.
    """

    def __init__(self,
                 config: str,
                 tools_dir: str,
                 nproc: int,
                 work_dir: str,
                 port: int,
                 options: Sequence[str] = (),
                 extra: Sequence[str] = (),
                 env: Optional[Dict[str, str]] = None):
        self.token = uuid.uuid4().hex
        tools_dir = osp.abspath(tools_dir)
        if nproc == 1:
            command = [sys.executable, osp.join(tools_dir, 'train.py'), osp.abspath(config)]
        else:
            command = [
                'bash',
                osp.join(tools_dir, 'dist_train.sh'),
                osp.abspath(config),
                str(nproc)
            ]
        self.work_dir = osp.abspath(work_dir)
        command += ['--work-dir', self.work_dir, *extra]
        if options:
            command += ['--cfg-options', *options]
        run_env = dict(os.environ, PORT=str(port), **(env or {}))
        run_env[MARKER] = self.token
        run_env['PYTHONPATH'] = os.pathsep.join(
            filter(None, [PACKAGE_PARENT, run_env.get('PYTHONPATH')]))
        self.log_dirs = set(glob.glob(osp.join(self.work_dir, '2*')))
        self.log = osp.join(self.work_dir, 'launcher.log')
        os.makedirs(self.work_dir, exist_ok=True)
        with open(self.log, 'a') as log:
            log.write(f'\n$ {" ".join(command)}\n')
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=osp.dirname(tools_dir),  # where the configs' relative data paths start
                env=run_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True)
        self.start = time.time()

    def wait(self, what: str) -> str:
        """Wait for a launch that must succeed; returns the log folder it wrote."""
        if self.process.wait():
            sys.exit(f'ERROR: the {what} failed (exit status {self.process.returncode}), see '
                     f'{self.log}')
        print(f'{what}: {time.time() - self.start:.0f} s', flush=True)
        return self.new_log_dir(what)

    def new_log_dir(self, what: str = 'run') -> str:
        new = sorted(set(glob.glob(osp.join(self.work_dir, '2*'))) - self.log_dirs)
        if not new:
            sys.exit(f'ERROR: the {what} wrote no log folder in {self.work_dir}')
        return new[-1]

    def processes(self) -> Dict[int, str]:
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

    def kill_all(self, first: Sequence[int] = ()) -> Dict[int, str]:
        """SIGKILL ``first`` (pids known already: no /proc scan before they stop), then every
        process of the run until none is left; returns what was killed."""
        for pid in first:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
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


def validations(log_dir: str) -> Dict[int, dict]:
    """{step: metrics} of every validation logged in a run's ``vis_data/scalars.json``."""
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    if not osp.isfile(path):
        return {}
    result = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:  # the last line of a killed run may be cut short
                continue
            if any(key.startswith('loss') for key in record):
                continue  # a training log line
            result[record['step']] = {k: v for k, v in record.items() if k not in NOT_METRICS}
    return result


def final_weights(work_dir: str) -> Tuple[str, Dict[str, torch.Tensor]]:
    """The path ``last_checkpoint`` names and its state dict (weights-only load)."""
    from mmmoga.utils.checkpoint import load_checkpoint_file  # weights_only, scoped allow-list
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    return path, load_checkpoint_file(path)['state_dict']


def compare_runs(reference: Dict[int, dict], resumed: Sequence[Dict[int, dict]], reference_dir: str,
                 resumed_dir: str, unit: str) -> bool:
    """Print and compare the validations of the resumed launches (each against the reference at
    the same step) and the final weights of both work dirs; True when everything is identical."""
    if not reference:
        print(
            f'the uninterrupted run logged no validation ({reference_dir}/*/vis_data/scalars.json '
            f'is missing or empty): keep LocalVisBackend in visualizer.vis_backends and a '
            f'val_interval within the schedule')
        return False
    ok = True
    logged: List[Tuple[int, dict]] = sorted(
        (step, metrics) for launch in resumed for step, metrics in launch.items())
    if not logged:
        print('the resumed run logged no validation')
        ok = False
    for step, metrics in logged:
        same = reference.get(step) == metrics
        ok &= same
        print(f'validation at {unit} {step}: {"identical" if same else "DIFFERENT"}')
        if not same:
            print(f'  uninterrupted: {reference.get(step)}')
            print(f'  resumed:       {metrics}')
    final_step = max(reference)
    print(f'final metrics ({unit} {final_step}):')
    print(f'  uninterrupted: {reference[final_step]}')
    print(f'  resumed:       {dict(logged).get(final_step)}')
    if final_step not in dict(logged):
        ok = False

    path_a, weights_a = final_weights(reference_dir)
    path_b, weights_b = final_weights(resumed_dir)
    if osp.basename(path_a) != osp.basename(path_b) or weights_a.keys() != weights_b.keys():
        print(f'final checkpoints do not correspond: {path_a} vs {path_b}')
        return False
    different = [k for k in weights_a if not torch.equal(weights_a[k], weights_b[k])]
    largest = max(
        (float((weights_a[k].double() - weights_b[k].double()).abs().max()) for k in different),
        default=0.0)
    print(f'final weights ({osp.basename(path_a)}): ' +
          (f'identical, all {len(weights_a)} tensors' if not different else
           f'{len(different)} of {len(weights_a)} tensors DIFFER (largest difference '
           f'{largest:.3g}, e.g. {different[0]})'))
    return ok and not different
