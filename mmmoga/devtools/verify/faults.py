"""Fault injection: SIGKILL a training run at many moments, inside checkpoint writes too, resume
after each kill, and check that nothing was lost.

What ``tools/misc/verify_faults.py`` runs. One uninterrupted reference run, then a run that is
killed ``kills`` times (every process: launcher, torchrun agent, workers) and resumed with
``tools/train.py --resume`` after each kill. The kills cycle through :data:`KINDS`, each aimed at
the next checkpoint the run will write:

* ``random``: at a random moment before that checkpoint's save starts (start-up, resume, training);
* ``write``: at a random moment while the checkpoint is written (``MMMOGA_FAULT_SLOW_SAVE`` spreads
  the atomic write over ``slow_save`` seconds so that the kill lands inside it);
* ``renamed``: as soon as the checkpoint appears under its final name (the atomic hook: written
  and renamed, ``last_checkpoint`` not yet updated; mmengine's hook: the file has just been opened
  for writing, and the previous checkpoint already deleted);
* ``committed``: as soon as ``last_checkpoint`` names it (the checkpoint it replaces not yet
  removed).

After each kill the work dir is checked: ``last_checkpoint`` must name a checkpoint that exists and
loads completely, at least as new as the last one the run had recorded before the kill (when
``last_checkpoint`` is absent, no checkpoint may have been recorded yet), and the next launch must
resume from it. Otherwise the kill *lost* the run, and it starts again from scratch (what a user
would have to do). At the end the final weights and every validation must equal the reference
run's, no temporary file may be left and only ``max_keep_ckpts`` checkpoints.
"""
import math
import os
import os.path as osp
import random
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from mmmoga.utils.atomic_io import SLOW_SAVE_ENV, leftover_temp_files
from mmmoga.utils.checkpoint import CheckpointError, load_checkpoint_file
from .runs import Run, ScheduleError, compare_runs, fresh_dirs, load_config, schedule, validations

__all__ = ['KINDS', 'Kill', 'FaultReport', 'inject_faults', 'summary_line']

#: the kill moments, in the order they are used (one cycle per checkpoint the run gets past)
KINDS = ('random', 'write', 'renamed', 'write', 'committed')

MID_WRITE = 'mid-write'


@dataclass
class Kill:
    """One injected fault and what it left."""
    number: int
    kind: str
    target: str  # the checkpoint the kill was aimed at
    seconds: float  # after the launch started
    processes: int
    moment: str = ''  # where in the save it landed, read from the files it left
    resumed_from: Optional[str] = None  # what last_checkpoint named after the kill
    lost: Optional[str] = None  # why the run was lost; None: it survived

    @property
    def during_write(self) -> bool:
        return self.moment.startswith(MID_WRITE)


@dataclass
class FaultReport:
    kills: List[Kill] = field(default_factory=list)
    final_identical: bool = False
    leftovers: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(kill.lost is not None for kill in self.kills)

    @property
    def ok(self) -> bool:
        return (not self.lost and self.final_identical and not self.leftovers and not self.problems)


def summary_line(report: FaultReport) -> str:
    """``N faults injected, S survived, L lost`` (+ what else failed)."""
    total = len(report.kills)
    line = f'{total} faults injected, {total - report.lost} survived, {report.lost} lost'
    extra = ([] if report.final_identical else ['final result DIFFERS from the uninterrupted run'])
    extra += ['files left behind'] if report.leftovers else []
    extra += report.problems
    return line + (f' ({"; ".join(extra)})' if extra else '')


class _Files:
    """The checkpoint files of a work dir as a fault run sees them."""

    def __init__(self, work_dir: str, template: str):
        self.work_dir, self.template = work_dir, template
        self.pattern = re.compile(re.escape(template).replace(r'\{\}', r'(\d+)') + '$')

    def path(self, step: int) -> str:
        return osp.join(self.work_dir, self.template.format(step))

    def step(self, path: Optional[str]) -> Optional[int]:
        match = self.pattern.search(osp.basename(path or ''))
        return int(match.group(1)) if match else None

    def pointer(self) -> Optional[str]:
        try:
            with open(osp.join(self.work_dir, 'last_checkpoint')) as f:
                return f.read().strip() or None
        except OSError:
            return None

    @staticmethod
    def stamp(path: str) -> Optional[Tuple[int, int]]:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def temps_of(self, names: Sequence[str], step: int) -> set:
        """The temporary files of the checkpoint of ``step`` among ``names``."""
        prefix = f'.{self.template.format(step)}.'
        return {n for n in names if n.startswith(prefix) and n.endswith('.tmp')}

    def checkpoints(self) -> List[str]:
        """The regular checkpoints, oldest first."""
        names = [n for n in os.listdir(self.work_dir) if self.pattern.match(n)]
        return sorted(names, key=self.step)

    def wipe(self) -> None:
        """What a user does when nothing is left to resume from: start again from scratch."""
        for name in self.checkpoints() + ['last_checkpoint']:
            path = osp.join(self.work_dir, name)
            if osp.exists(path):
                os.remove(path)
        for tmp in leftover_temp_files(self.work_dir):
            os.remove(tmp)


def _loads(path: str) -> Optional[str]:
    """None when ``path`` loads completely (weights-only); else why not."""
    try:
        load_checkpoint_file(path)
    except (CheckpointError, OSError) as err:
        return str(err).split('. ')[0]
    return None


def _watch(run: Run, files: _Files, kind: str, target: int, old_temps: set, slow: float,
           random_window: float,
           rng: random.Random) -> Optional[Tuple[List[int], Optional[str], Optional[float]]]:
    """Poll until the moment ``kind`` of the save of ``target`` comes. Returns the run's pids
    (known beforehand, so that the kill needs no /proc scan), the last ``last_checkpoint`` seen
    before that moment and when the save started (seconds into the launch; None: not yet), or None
    when the launch ended by itself. ``old_temps``: partial files of earlier launches."""
    final = files.path(target)
    before = files.stamp(final)  # a file left by an earlier launch is not the new one
    pids: List[int] = []
    refresh = 0.0
    deadline = run.start + rng.uniform(0, random_window) if kind == 'random' else None
    started = None
    while run.process.poll() is None:
        now = time.time()
        if now >= refresh:
            pids, refresh = list(run.processes()), now + 0.25
        names = os.listdir(files.work_dir)
        pointer = files.pointer()
        renamed = files.stamp(final) not in (None, before)
        writing = renamed or bool(files.temps_of(names, target) - old_temps)
        if writing and started is None:
            started = now - run.start
        if kind == 'write' and writing and deadline is None:
            deadline = now + rng.uniform(0.1, 0.9) * max(slow, 0.05)
        if ((kind == 'random' and (now >= deadline or writing))
                or (kind == 'write' and deadline is not None and now >= deadline)
                or (kind == 'renamed' and renamed) or (kind == 'committed' and pointer == final)):
            return pids, pointer, started
        time.sleep(0.005)
    return None


def _assess(kill: Kill, files: _Files, target: int, previous: Optional[str],
            recorded: Optional[str], before: Optional[Tuple[int, int]], old_temps: set) -> None:
    """Where the kill landed, and whether a complete checkpoint is left to resume from.

    ``previous``: what last_checkpoint named when the launch started; ``recorded``: the newest it
    named before the kill; ``before``: the stamp of the target file when the launch started;
    ``old_temps``: partial files of earlier launches.
    """
    names = os.listdir(files.work_dir)
    final = files.path(target)
    pointer = files.pointer()
    kill.resumed_from = osp.basename(pointer) if pointer else None
    new_file = files.stamp(final) not in (None, before)
    if files.temps_of(names, target) - old_temps:
        kill.moment = f'{MID_WRITE} (temporary file)'
    elif new_file and _loads(final):
        kill.moment = f'{MID_WRITE} (final file, truncated)'
    elif new_file and pointer != final:
        kill.moment = 'written, not yet in last_checkpoint'
    elif pointer == final:
        old = files.path(files.step(previous)) if files.step(previous) is not None else None
        kill.moment = ('in last_checkpoint, the old one not yet removed'
                       if old and old != final and osp.exists(old) else 'after the save')
    elif pointer and not osp.exists(pointer):
        kill.moment = 'old checkpoint removed, new one not yet written'
    else:
        kill.moment = 'before the save'

    if pointer is None:
        if recorded:
            kill.lost = f'no last_checkpoint, although {osp.basename(recorded)} was recorded'
        return
    if not osp.exists(pointer):
        kill.lost = f'last_checkpoint names {osp.basename(pointer)}, which is gone'
        return
    broken = _loads(pointer)
    if broken:
        kill.lost = f'{osp.basename(pointer)} cannot be loaded: {broken}'
    elif recorded and (files.step(pointer) or 0) < (files.step(recorded) or 0):
        kill.lost = f'rolled back from {osp.basename(recorded)} to {osp.basename(pointer)}'


def inject_faults(config: str,
                  tools_dir: str,
                  nproc: int,
                  kills: int,
                  work_dir: str,
                  port: int,
                  cfg_options: Sequence[str] = (),
                  plain_hook: bool = False,
                  slow_save: float = 1.0,
                  seed: int = 0) -> FaultReport:
    """Run the reference and the fault-injected runs (the command lines of ``tools_dir``, see
    :class:`~.runs.Run`); prints progress, returns the report.

    Raises:
        ScheduleError: the schedule has too few checkpoints for ``kills`` kills.
    """
    options = ['default_hooks.checkpoint.max_keep_ckpts=1', *cfg_options]
    if plain_hook:
        options.append('default_hooks.checkpoint.type=CheckpointHook')
    cfg, options = load_config(config, options)
    unit, interval, first, last, _ = schedule(cfg)
    hook = cfg.default_hooks.checkpoint
    keep = hook.get('max_keep_ckpts', -1)
    template = hook.get('filename_tmpl') or ('epoch_{}.pth' if unit == 'epoch' else 'iter_{}.pth')
    targets = list(range(first, last, interval))  # the checkpoints before the last one
    needed = math.ceil(kills / len(KINDS))
    if needed > len(targets):
        raise ScheduleError(
            f'--kills {kills} takes {needed} checkpoints before the last one ({len(KINDS)} kills '
            f'each), but the schedule ({unit}s 1-{last}, a checkpoint every {interval}) has '
            f'{len(targets)}: raise the schedule, e.g. --cfg-options train_cfg.max_epochs='
            f'{first + needed * interval + 1} (or train_cfg.max_iters), or lower --kills.')
    rng = random.Random(seed)
    print(f'{config}: {last} {unit}s, a checkpoint every {interval}, max_keep_ckpts={keep}, '
          f'{"mmengine CheckpointHook (control)" if plain_hook else hook.type}; {nproc} '
          f'process(es); {kills} kills; writes slowed to {slow_save:g} s; seed {seed}')

    reference_dir, fault_dir = osp.join(work_dir, 'uninterrupted'), osp.join(work_dir, 'faults')
    fresh_dirs(reference_dir, fault_dir)

    reference = Run(config, tools_dir, nproc, reference_dir, port, options)
    files = _Files(reference.work_dir, template)
    save_start = None
    while reference.process.poll() is None:
        if save_start is None and (files.temps_of(os.listdir(reference_dir), first)
                                   or osp.exists(files.path(first))):
            save_start = time.time() - reference.start
        time.sleep(0.02)
    reference_validations = validations(reference.wait('uninterrupted run'))
    random_window = save_start or 30.0
    print(
        f'the first save started {random_window:.1f} s after the launch; a random kill falls in '
        f'[0, W] s of a launch (W: when the previous launch started its save), or at the start '
        f'of its save',
        flush=True)

    report = FaultReport()
    files = _Files(osp.abspath(fault_dir), template)
    env = {SLOW_SAVE_ENV: str(slow_save)}
    recorded: Optional[str] = None  # what last_checkpoint named before the launch
    launches = 0

    def launch() -> Run:
        nonlocal launches
        launches += 1
        extra = ['--resume'] if files.pointer() else []
        return Run(config, tools_dir, nproc, fault_dir, port + launches, options, extra, env)

    while len(report.kills) < kills:
        number = len(report.kills) + 1
        kind = KINDS[(number - 1) % len(KINDS)]
        target = (files.step(recorded) or first - interval) + interval
        if target >= last:
            report.problems.append(f'the schedule ended before kill {number}')
            break
        before = files.stamp(files.path(target))
        old_temps = files.temps_of(os.listdir(files.work_dir), target)
        run = launch()
        watched = _watch(run, files, kind, target, old_temps, slow_save, random_window, rng)
        if watched is None:  # the launch ended by itself
            status = run.process.returncode
            if status and report.kills and report.kills[-1].lost is None:
                report.kills[-1].lost = f'the resume failed (exit status {status}, see {run.log})'
                print(f'  -> LOST: {report.kills[-1].lost}', flush=True)
                files.wipe()
                recorded = None
                continue
            report.problems.append(f'launch {launches} ended (exit status {status}) before kill '
                                   f'{number}, see {run.log}')
            break
        pids, seen, started = watched
        random_window = started or random_window
        seconds = time.time() - run.start
        killed = {pid: '' for pid in pids}
        killed.update(run.kill_all(first=pids))
        survivors = run.processes()
        if survivors:
            report.problems.append(f'{len(survivors)} process(es) survived SIGKILL: '
                                   f'{sorted(survivors)}')
            break
        kill = Kill(number, kind, osp.basename(files.path(target)), seconds, len(killed))
        _assess(kill, files, target, recorded, seen or recorded, before, old_temps)
        report.kills.append(kill)
        print(
            f'kill {number:2d} ({kind}, aimed at {kill.target}) {seconds:5.1f} s into launch '
            f'{launches}, {kill.processes} processes: {kill.moment}; last_checkpoint -> '
            f'{kill.resumed_from}' + (f'  -> LOST: {kill.lost}' if kill.lost else ''),
            flush=True)
        if kill.lost:
            files.wipe()
        recorded = files.pointer()

    final = launch()
    status = final.process.wait()
    if status and report.kills and report.kills[-1].lost is None:
        report.kills[-1].lost = f'the resume failed (exit status {status}, see {final.log})'
        print(f'  -> LOST: {report.kills[-1].lost}', flush=True)
        files.wipe()
        status = launch().process.wait()
    if status:
        report.problems.append(f'the last launch failed (exit status {status}), see {final.log}')
        return report
    print(f'completed after {len(report.kills)} kills ({launches} launches)', flush=True)

    logs = sorted(d for d in os.listdir(fault_dir) if d.startswith('2'))
    launched = [validations(osp.join(fault_dir, d)) for d in logs]
    report.final_identical = compare_runs(reference_validations, launched, reference_dir, fault_dir,
                                          unit)
    report.leftovers = leftover_temp_files(fault_dir)
    extra = files.checkpoints()[:-keep] if keep > 0 else []
    report.leftovers += [osp.join(fault_dir, name) for name in extra]
    if report.leftovers:
        print(f'left behind: {report.leftovers}')
    return report


def print_report(report: FaultReport) -> None:
    """The per-moment table; the last line is :func:`summary_line`."""
    moments: Dict[str, List[int]] = {}
    for kill in report.kills:
        counts = moments.setdefault(kill.moment, [0, 0])
        counts[0] += 1
        counts[1] += kill.lost is not None
    print('where the kills landed:')
    for moment, (count, lost) in sorted(moments.items()):
        print(f'  {moment}: {count} ({lost} lost)')
    during = sum(kill.during_write for kill in report.kills)
    print(f'{during} of {len(report.kills)} kills landed inside a checkpoint write')
    for problem in report.problems:
        print(f'PROBLEM: {problem}')
    sys.stdout.flush()
    print(summary_line(report), flush=True)
