"""Preemption injection: SIGTERM a training run at many moments, resume after each, and check that
every resume continued exactly and that nothing was lost.

What ``tools/misc/verify_faults.py --preempt N`` runs. One uninterrupted reference run, then a run
preempted ``N`` times with SIGTERM and resumed with ``tools/train.py --resume`` after each (what
``tools/slurm_train.sh`` does on its own). The moments cycle through :data:`MOMENTS`:

* ``train``: at a random moment inside a training iteration (after the launch logged one);
* ``val``: inside a validation (after it logged its first batch);
* ``write``: inside the write of a regular checkpoint, 0.1-0.5 s after it began
  (``MMMOGA_FAULT_SLOW_SAVE`` spreads the atomic write over ``slow_save`` seconds).

With several processes the signal goes, in turn, to the launcher (``tools/dist_train.sh``, which
passes it on), to one worker only, and to every process of the run (as Slurm signals every task).

For each preemption: the launch must exit with status 75 within its grace, ``last_checkpoint``
must name a complete checkpoint at least as new as before (else the preemption *lost* the run,
which then starts again from scratch), and the iterations the launch computed after that
checkpoint's are *redone*. The next launch *resumed exactly* when it starts at the checkpoint's
iteration and every training and validation figure it logs (with ``logger.interval=1``: loss terms,
gradient norm, metrics) equals the reference run's at the same step. At the end the final weights
must equal the reference's.

``plain=True`` is the control: mmengine's own hooks (``CheckpointHook``, no ``PreemptionHook``,
``--no-rng-state``), where SIGTERM ends the run at once and a resume restarts the epoch.
"""
import json
import os
import os.path as osp
import random
import re
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from mmmoga.utils.atomic_io import SLOW_SAVE_ENV
from mmmoga.utils.checkpoint import CheckpointError, load_checkpoint_file
from .runs import NOT_METRICS, Run, compare_runs, fresh_dirs, load_config, schedule, validations

__all__ = [
    'MOMENTS', 'Preemption', 'PreemptionReport', 'inject_preemptions', 'summary_line',
    'print_preemption_report'
]

MOMENTS = ('train', 'val', 'train', 'write')
TARGETS = ('launcher', 'one worker', 'every process')
PREEMPTED = 75
_TRAIN_LINE = re.compile(r'(Epoch|Iter)\(train\)')
_VAL_LINE = re.compile(r'(Epoch|Iter)\(val\)')


@dataclass
class Preemption:
    """One SIGTERM and what it left."""
    number: int
    moment: str
    target: str
    status: Optional[int] = None  # the launch's exit status
    seconds: float = 0.0  # from the signal to the exit of every process
    saved: Optional[str] = None  # what last_checkpoint named after it
    saved_iter: Optional[int] = None
    computed_iter: int = 0  # the last iteration the launch logged
    lost: Optional[str] = None
    resumed_exactly: Optional[bool] = None  # judged on the next launch

    @property
    def redone(self) -> int:
        return max(0, self.computed_iter - (self.saved_iter or 0))


@dataclass
class PreemptionReport:
    preemptions: List[Preemption] = field(default_factory=list)
    final_identical: bool = False
    problems: List[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(p.lost is not None for p in self.preemptions)

    @property
    def exact(self) -> int:
        return sum(bool(p.resumed_exactly) for p in self.preemptions)

    @property
    def redone(self) -> int:
        return sum(p.redone for p in self.preemptions)

    @property
    def ok(self) -> bool:
        n = len(self.preemptions)
        return (self.final_identical and not self.lost and self.exact == n and self.redone <= n
                and not self.problems)


def summary_line(report: PreemptionReport) -> str:
    """``N preemptions, E resumed exactly, R iterations redone, L lost`` (+ what else failed)."""
    n = len(report.preemptions)
    line = (f'{n} preemptions, {report.exact} resumed exactly, {report.redone} iterations redone, '
            f'{report.lost} lost')
    extra = [] if report.final_identical else ['final result DIFFERS from the uninterrupted run']
    return line + (f' ({"; ".join(extra + report.problems)})' if extra or report.problems else '')


def _records(log_dir: str) -> Dict[tuple, dict]:
    """{('train'|'val', step): figures} of a launch's ``vis_data/scalars.json``."""
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    result = {}
    if not log_dir or not osp.isfile(path):
        return result
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:  # the last line of a killed launch may be cut short
                continue
            kind = 'train' if any(key.startswith('loss') for key in record) else 'val'
            figures = {k: v for k, v in record.items() if k not in NOT_METRICS and k != 'eta'}
            result[(kind, record['step'])] = figures
    return result


def _checkpoint_iter(path: Optional[str]) -> Optional[int]:
    if not path or not osp.isfile(path):
        return None
    try:
        return load_checkpoint_file(path)['meta']['iter']
    except (CheckpointError, OSError, KeyError):
        return None


def _pointer(work_dir: str) -> Optional[str]:
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return f.read().strip() or None
    except OSError:
        return None


class _Log:
    """Follows ``launcher.log`` from the end it had when a launch started."""

    def __init__(self, path: str):
        self.path = path
        self.offset = osp.getsize(path) if osp.exists(path) else 0

    def lines(self) -> List[str]:
        with open(self.path, errors='replace') as f:
            f.seek(self.offset)
            return f.read().splitlines()


def _wait_for(run: Run, moment: str, log: _Log, work_dir: str, rng: random.Random,
              iteration_seconds: float) -> bool:
    """Poll until ``moment`` comes in this launch; False when the launch ended first."""
    seen_train = False
    temps_before = {n for n in os.listdir(work_dir) if n.endswith('.tmp')}
    while run.process.poll() is None:
        lines = log.lines()
        if moment == 'train' and any(_TRAIN_LINE.search(line) for line in lines):
            if not seen_train:  # a random moment of the next iteration
                seen_train = True
                time.sleep(rng.uniform(0, iteration_seconds))
                return run.process.poll() is None
        if moment == 'val' and any(_VAL_LINE.search(line) for line in lines):
            return True
        if moment == 'write' and (any('Saving checkpoint at' in line for line in lines) or {
                n
                for n in os.listdir(work_dir)
                if n.endswith('.tmp') and '.pth.' in n and 'preempted' not in n
        } - temps_before):  # the regular save has begun (its log line, or its temporary file)
            time.sleep(rng.uniform(0.1, 0.5))
            return run.process.poll() is None
        time.sleep(0.02)
    return False


def _send(run: Run, target: str, nproc: int, rng: random.Random) -> None:
    if nproc == 1 or target == 'launcher':
        os.kill(run.process.pid, signal.SIGTERM)
        return
    processes = run.processes()
    workers = sorted(
        pid for pid, cmd in processes.items()
        if 'train.py' in cmd and '--launcher pytorch' in cmd and 'torch.distributed.run' not in cmd)
    chosen = [rng.choice(workers)] if target == 'one worker' and workers else list(processes)
    for pid in chosen:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def inject_preemptions(config: str,
                       tools_dir: str,
                       nproc: int,
                       preemptions: int,
                       work_dir: str,
                       port: int,
                       cfg_options: Sequence[str] = (),
                       plain: bool = False,
                       slow_save: float = 1.0,
                       seed: int = 0) -> PreemptionReport:
    """Run the reference and the preempted runs (the command lines of ``tools_dir``, see
    :class:`~.runs.Run`); prints progress, returns the report."""
    options = ['default_hooks.logger.interval=1', *cfg_options]
    extra: List[str] = []
    cfg, options = load_config(config, options)
    if plain:  # the config resolved, without the hooks, as a file of its own
        cfg.default_hooks.pop('preemption', None)
        cfg.default_hooks.checkpoint.type = 'CheckpointHook'
        os.makedirs(work_dir, exist_ok=True)
        config, options, extra = osp.join(work_dir, 'plain_mmengine.py'), [], ['--no-rng-state']
        cfg.dump(config)
    unit, _, _, last, _ = schedule(cfg)
    rng = random.Random(seed)
    print(
        f'{config}: {last} {unit}s; {nproc} process(es); {preemptions} preemptions (SIGTERM); '
        f'{"plain mmengine hooks (control)" if plain else "PreemptionHook"}; writes slowed to '
        f'{slow_save:g} s; seed {seed}',
        flush=True)
    reference_dir, run_dir = osp.join(work_dir, 'uninterrupted'), osp.join(work_dir, 'preempted')
    fresh_dirs(reference_dir, run_dir)
    reference = Run(config, tools_dir, nproc, reference_dir, port, options, extra)
    reference_log = reference.wait('uninterrupted run')
    reference_records = _records(reference_log)
    seconds = _iteration_seconds(reference_log)
    print(
        f'{sum(kind == "train" for kind, _ in reference_records)} iterations, {seconds:.2f} s '
        f'each (median); a "train" signal falls at a random moment of an iteration',
        flush=True)

    report = PreemptionReport()
    env = {SLOW_SAVE_ENV: str(slow_save)}
    launches = 0

    def launch() -> Run:
        nonlocal launches
        launches += 1
        resume = ['--resume'] if _pointer(run_dir) else []
        return Run(config, tools_dir, nproc, run_dir, port + launches, options, extra + resume, env)

    pending: List[Preemption] = []  # preemptions whose resume is not judged yet
    while len(report.preemptions) < preemptions:
        number = len(report.preemptions) + 1
        moment = MOMENTS[(number - 1) % len(MOMENTS)]
        target = TARGETS[(number - 1) % len(TARGETS)] if nproc > 1 else 'the process'
        recorded = _pointer(run_dir)
        run = launch()
        log = _Log(run.log)
        if not _wait_for(run, moment, log, run_dir, rng, seconds):
            report.problems.append(
                f'launch {launches} ended (exit status {run.process.returncode}) before '
                f'preemption {number} ({moment}), see {run.log}: lengthen the schedule')
            _judge(pending, run, reference_records)
            break
        sent = time.time()
        _send(run, target, nproc, rng)
        preemption = Preemption(number, moment, target)
        try:
            preemption.status = run.process.wait(timeout=600)
        except Exception:  # noqa: BLE001  (a hung launch is killed and counted as lost)
            run.kill_all()
            preemption.status = None
        deadline = time.time() + 60
        while run.processes() and time.time() < deadline:
            time.sleep(0.05)
        preemption.seconds = time.time() - sent
        leftover = run.processes()
        if leftover:
            run.kill_all()
            report.problems.append(f'{len(leftover)} process(es) outlived preemption {number}')
        _judge(pending, run, reference_records)  # the launch the previous preemption resumed
        steps = [step for kind, step in _records(_log_dir(run)) if kind == 'train']
        preemption.computed_iter = max(steps, default=0)
        preemption.saved = _pointer(run_dir)
        preemption.saved_iter = _checkpoint_iter(preemption.saved)
        before = _checkpoint_iter(recorded)
        if preemption.saved_iter is None and recorded:
            preemption.lost = f'last_checkpoint names {preemption.saved}, which does not load'
        elif (before or 0) > (preemption.saved_iter or 0):
            preemption.lost = f'rolled back from {recorded} to {preemption.saved}'
        if not plain and preemption.status != PREEMPTED:
            report.problems.append(f'preemption {number}: exit status {preemption.status}, not '
                                   f'{PREEMPTED}')
        report.preemptions.append(preemption)
        print(
            f'preemption {number:2d} ({moment}, to {target}): exit {preemption.status} '
            f'{preemption.seconds:.1f} s after the signal; computed up to iteration '
            f'{preemption.computed_iter}, saved {osp.basename(preemption.saved or "-")} '
            f'(iteration {preemption.saved_iter}), {preemption.redone} redone' +
            (f'  -> LOST: {preemption.lost}' if preemption.lost else ''),
            flush=True)
        if preemption.lost:  # what a user would do: start again from scratch
            for name in os.listdir(run_dir):
                if name.endswith('.pth') or name == 'last_checkpoint':
                    os.remove(osp.join(run_dir, name))
        pending = [] if preemption.lost else pending + [preemption]

    final = launch()
    status = final.process.wait()
    _judge(pending, final, reference_records)
    if status:
        report.problems.append(f'the last launch failed (exit status {status}), see {final.log}')
        return report
    print(
        f'completed after {len(report.preemptions)} preemptions ({launches} launches)', flush=True)
    logs = sorted(d for d in os.listdir(run_dir) if d.startswith('2'))
    launched = [validations(osp.join(run_dir, d)) for d in logs]
    report.final_identical = compare_runs(
        {
            step: m
            for (kind, step), m in reference_records.items() if kind == 'val'
        }, launched, reference_dir, run_dir, unit)
    return report


def _log_dir(run: Run) -> str:
    """The log folder ``run`` wrote ('' when it wrote none)."""
    try:
        return run.new_log_dir()
    except SystemExit:
        return ''


def _iteration_seconds(log_dir: str) -> float:
    times = []
    with open(osp.join(log_dir, 'vis_data', 'scalars.json')) as f:
        for line in f:
            record = json.loads(line)
            if 'time' in record and any(key.startswith('loss') for key in record):
                times.append(record['time'])
    return statistics.median(times) if times else 1.0


def _judge(pending: List[Preemption], run: Run, reference: Dict[tuple, dict]) -> None:
    """Whether ``run``, the launch after the preemptions ``pending``, resumed exactly: it starts
    right after the saved iteration, and every figure it logged equals the reference's at that
    step. A launch that logged nothing (preempted again before its first figure) leaves them
    pending for the next one, whose figures then judge them all."""
    records = _records(_log_dir(run))
    if not pending or not records:
        return
    steps = sorted(step for kind, step in records if kind == 'train')
    starts_right = not steps or steps[0] == (pending[-1].saved_iter or 0) + 1
    wrong = [key for key, figures in records.items() if reference.get(key) != figures]
    for preemption in pending:
        preemption.resumed_exactly = starts_right and not wrong
    if not (starts_right and not wrong):
        print(
            f'  preemption {pending[-1].number}: the resumed launch starts at iteration '
            f'{steps[0] if steps else "-"}' + (f'; differs at {wrong[:3]}' if wrong else ''),
            flush=True)
    pending.clear()


def print_preemption_report(report: PreemptionReport) -> None:
    """The figures; the last line is :func:`summary_line`."""
    times = [p.seconds for p in report.preemptions]
    if times:
        print(f'seconds from the signal to the exit: median {statistics.median(times):.1f}, max '
              f'{max(times):.1f}')
    moments: Dict[str, List[int]] = {}
    for p in report.preemptions:
        counts = moments.setdefault(f'{p.moment}, to {p.target}', [0, 0, 0])
        counts[0] += 1
        counts[1] += bool(p.resumed_exactly)
        counts[2] += p.redone
    for moment, (count, exact, redone) in sorted(moments.items()):
        print(f'  {moment}: {count} (resumed exactly {exact}, iterations redone {redone})')
    for problem in report.problems:
        print(f'PROBLEM: {problem}')
    sys.stdout.flush()
    print(summary_line(report), flush=True)
