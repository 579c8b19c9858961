"""A preemption signal saves at the next iteration boundary and exits with status 75; the resumed
run continues the epoch and ends bit-identical to an uninterrupted one.

The tiny job of tests/tiny_training.py (3 epochs of 6 batches validated every epoch, or 12
iterations validated every 4), preempted by a SIGTERM the process sends itself at a chosen moment:
inside a training iteration, inside validation, inside a checkpoint write, before the first
iteration, in the last iteration, twice. Each comparison has its control.
"""
import logging
import os
import os.path as osp
import signal
import subprocess
import time

import pytest
import tiny_training
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.hooks import Hook
from tiny_training import one_thread  # noqa: F401  (an autouse fixture)
from tiny_training import assert_identical, differs, free_port, join_two_process_group, weights

from mmmoga.engine import (PREEMPTED_EXIT_STATUS, PreemptionHook, ResumePositionError,
                           TrainingPreempted, preemption)
from mmmoga.engine.preemption import EXIT_STATUS_FILE_ENV, POSITION
from mmmoga.utils.checkpoint import load_checkpoint_file


class SendSignal(Hook):
    """Sends this process ``signum`` (``times`` times) at ``moment``: 'train' (inside training
    iteration ``at``, 0-based), 'val' (inside the first validation batch after iteration ``at``),
    'save' (inside the write of the first checkpoint saved after iteration ``at``) or 'start'
    (before the first iteration)."""
    priority = 'VERY_HIGH'

    def __init__(self, moment, at=0, times=1, signum=signal.SIGTERM):
        self.moment, self.at, self.times, self.signum, self.sent = moment, at, times, signum, False

    def _send(self):
        if not self.sent:
            self.sent = True
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)

    def before_train(self, runner):
        if self.moment == 'start':
            self._send()

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.moment == 'train' and runner.iter == self.at:
            self._send()

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        if self.moment == 'val' and runner.iter >= self.at:
            self._send()

    def before_save_checkpoint(self, runner, checkpoint):
        if self.moment == 'save' and runner.iter >= self.at:
            self._send()


class Validations(Hook):
    """Records (step, metrics) of every validation."""
    priority = 'LOWEST'

    def __init__(self, record):
        self.record = record

    def after_val_epoch(self, runner, metrics=None):
        self.record.append((runner.iter, dict(metrics or {})))


def hooks(*extra, record=None):
    return [dict(type='RandomStateHook'), *extra
            ] + ([Validations(record)] if record is not None else [])


PREEMPTION = dict(preemption=dict(type='PreemptionHook'))


def run(work_dir, preempt=None, resume=False, record=None, **kwargs):
    """Train (or resume) the tiny job; returns (weights, log messages, exit status or None)."""
    kwargs.setdefault('checkpoint_type', 'AtomicCheckpointHook')
    kwargs.setdefault('extra_default_hooks', PREEMPTION)
    runner = tiny_training.build_runner(
        work_dir,
        resume=resume,
        custom_hooks=hooks(*([preempt] if preempt else []), record=record),
        **kwargs)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    runner.logger.addHandler(handler)
    status = None
    try:
        runner.train()
    except TrainingPreempted as err:
        status = err.code
    finally:
        runner.logger.removeHandler(handler)
        for hook in runner.hooks:  # a run that raised leaves the signal handlers installed
            if isinstance(hook, PreemptionHook):
                hook.after_run(runner)
    return weights(runner), messages, status


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """Uninterrupted runs: weights and validations, per loop type."""
    runs, threads = {}, torch.get_num_threads()
    torch.set_num_threads(1)  # as the tests' runs (one_thread is set up after this fixture)
    for loop in ('epoch', 'iter'):
        record = []
        runs[loop] = run(
            tmp_path_factory.mktemp(f'reference_{loop}'), loop=loop, record=record)[0], record
    torch.set_num_threads(threads)
    return runs


def preempted_and_resumed(work_dir, reference, moment, at, loop='epoch', times=1):
    """Preempt once at (moment, at), resume; check the exit, the checkpoint and the end result."""
    record = []
    _, messages, status = run(work_dir, SendSignal(moment, at, times), loop=loop, record=record)
    assert status == PREEMPTED_EXIT_STATUS
    assert any(m.startswith('Preempted (SIGTERM') for m in messages), messages
    saved = last_checkpoint(work_dir)
    meta = load_checkpoint_file(saved)['meta']
    final, resumed_messages, status = run(work_dir, resume=True, loop=loop, record=record)
    assert status is None
    assert_identical(final, reference[loop][0])
    # every validation of the uninterrupted run, once, with the same metrics
    assert sorted(record, key=lambda r: r[0]) == reference[loop][1]
    return saved, meta, messages, resumed_messages


def test_signal_inside_a_training_iteration_saves_there_and_resumes_mid_epoch(tmp_path, reference):
    saved, meta, _, resumed = preempted_and_resumed(tmp_path, reference, 'train', at=8)
    assert osp.basename(saved) == 'preempted_iter_9.pth'  # iteration 9 finished, then saved
    position = meta[POSITION]
    assert (position['batch'], position['epoch_length'], position['dataset_length'],
            position['world_size'], position['batch_size']) == (3, 6, 24, 1, 4)
    assert any('its first 3 of 6 batches are skipped without loading' in m for m in resumed)
    # the next regular checkpoint removed the mid-epoch one; max_keep_ckpts never counted it
    assert not osp.exists(saved)
    assert sorted(n for n in os.listdir(tmp_path)
                  if n.endswith('.pth')) == ['epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth']


def test_control_restarting_the_epoch_differs(tmp_path, reference, monkeypatch):
    """mmengine's own way: the resumed epoch starts again from its first batch."""

    def restart_epoch(loop, done):
        del loop.run_epoch
        loop._iter -= done
        loop.run_epoch()

    monkeypatch.setattr(preemption, '_run_rest_of_epoch', restart_epoch)
    run(tmp_path, SendSignal('train', 8))
    assert differs(run(tmp_path, resume=True)[0], reference['epoch'][0])


def test_control_loading_the_skipped_batches_differs(tmp_path, reference, monkeypatch):
    """Skipping by fetching (and dropping) the trained batches runs their random augmentations."""

    def fetching(loader, skip):
        iterator = iter(loader)
        for _ in range(skip):
            next(iterator)
        return iterator

    monkeypatch.setattr(preemption, '_skip_batches', fetching)
    run(tmp_path, SendSignal('train', 8))
    assert differs(run(tmp_path, resume=True)[0], reference['epoch'][0])


def test_signal_in_an_iteration_based_run(tmp_path, reference):
    saved, _, _, resumed = preempted_and_resumed(tmp_path, reference, 'train', at=5, loop='iter')
    assert osp.basename(saved) == 'preempted_iter_6.pth'
    assert any('trained batches are skipped without loading' in m for m in resumed)


def test_signal_on_a_validation_iteration_of_an_iteration_based_run(tmp_path, reference):
    """Iteration 8 validates after training: saved after it, the validation runs on resume."""
    _, meta, _, resumed = preempted_and_resumed(tmp_path, reference, 'train', at=7, loop='iter')
    assert meta[POSITION]['validation_pending']
    assert any('Running the validation that the preemption stopped' in m for m in resumed)


@pytest.mark.parametrize('loop', ['epoch', 'iter'])
def test_signal_during_validation_validates_again_on_resume(tmp_path, reference, loop):
    at = 6 if loop == 'epoch' else 4
    _, meta, messages, resumed = preempted_and_resumed(tmp_path, reference, 'val', at=at, loop=loop)
    assert any('validation batch 1' in m for m in messages)
    assert meta['iter'] == at and meta[POSITION]['validation_pending']
    assert any('Running the validation that the preemption stopped' in m for m in resumed)


def test_signal_during_validation_with_ema_saves_the_trained_weights(tmp_path):
    """EMAHook validates with the averaged weights swapped in; the checkpoint holds the trained."""
    reference_record = []
    reference = run(tmp_path / 'reference', ema=True, record=reference_record)[0]
    record = []
    assert run(tmp_path / 'run', SendSignal('val', 6), ema=True, record=record)[2] == 75
    final = run(tmp_path / 'run', resume=True, ema=True, record=record)[0]
    assert_identical(final, reference)
    assert sorted(record, key=lambda r: r[0]) == reference_record


def test_signal_during_a_checkpoint_write(tmp_path, reference):
    """The write in progress completes; the run stops at the next boundary (validation)."""
    saved, _, messages, _ = preempted_and_resumed(tmp_path, reference, 'save', at=6)
    assert osp.basename(saved) == 'preempted_iter_6.pth'
    assert any('validation batch 1' in m for m in messages)


def test_signal_in_the_last_iteration(tmp_path, reference):
    saved, _, _, _ = preempted_and_resumed(tmp_path, reference, 'train', at=17)
    assert osp.basename(saved) == 'preempted_iter_18.pth'
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth'))[-1] == 'epoch_3.pth'


def test_two_signals_in_a_row_save_once(tmp_path, reference):
    saved, _, messages, _ = preempted_and_resumed(tmp_path, reference, 'train', at=8, times=2)
    assert any(m.startswith('Preempted (SIGTERM x2)') for m in messages)
    assert osp.basename(saved) == 'preempted_iter_9.pth'


def test_preempted_twice_before_a_regular_checkpoint(tmp_path, reference):
    """The second mid-epoch checkpoint replaces the first (written, pointed at, then removed)."""
    assert run(tmp_path, SendSignal('train', 7))[2] == 75
    first = last_checkpoint(tmp_path)
    assert run(tmp_path, SendSignal('train', 9), resume=True)[2] == 75
    second = last_checkpoint(tmp_path)
    assert osp.basename(second) == 'preempted_iter_10.pth' and not osp.exists(first)
    assert_identical(run(tmp_path, resume=True)[0], reference['epoch'][0])


def test_signal_before_the_first_iteration_saves_nothing(tmp_path):
    assert run(tmp_path, SendSignal('train', 8))[2] == 75
    saved = last_checkpoint(tmp_path)
    stamp = os.stat(saved).st_mtime_ns
    _, messages, status = run(tmp_path, SendSignal('start'), resume=True)
    assert status == 75
    assert any('before the first iteration, nothing new to save' in m for m in messages)
    assert last_checkpoint(tmp_path) == saved and os.stat(saved).st_mtime_ns == stamp


def test_sigusr1_when_configured_and_not_otherwise(tmp_path):
    usr1 = dict(preemption=dict(type='PreemptionHook', signals=('SIGTERM', 'SIGUSR1')))
    status = run(
        tmp_path, SendSignal('train', 2, signum=signal.SIGUSR1), extra_default_hooks=usr1)[2]
    assert status == 75
    with pytest.raises(ValueError, match='signals must be among'):
        PreemptionHook(signals=('SIGKILL', ))


def test_the_exit_status_file(tmp_path, monkeypatch):
    monkeypatch.setenv(EXIT_STATUS_FILE_ENV, str(tmp_path / 'status'))
    assert run(tmp_path / 'run', SendSignal('train', 2))[2] == 75
    assert (tmp_path / 'status').read_text() == '75\n'


def test_a_save_that_cannot_finish_in_the_grace_period_is_not_started(tmp_path):
    """The epoch checkpoints took some time; a grace period shorter than that skips the save."""
    grace = dict(preemption=dict(type='PreemptionHook', grace_period=1e-6))
    _, messages, status = run(tmp_path, SendSignal('train', 8), extra_default_hooks=grace)
    assert status == 75
    assert any('not saving: the last save took' in m for m in messages)
    assert osp.basename(last_checkpoint(tmp_path)) == 'epoch_1.pth'
    assert not any(n.startswith('preempted_') for n in os.listdir(tmp_path))


def test_a_different_batch_size_is_an_error(tmp_path):
    assert run(tmp_path, SendSignal('train', 8))[2] == 75
    with pytest.raises(ResumePositionError, match=r'batch size 4 -> 2.*epoch_1\.pth'):
        run(tmp_path, resume=True, batch_size=2)


def test_a_different_world_size_is_an_error(tmp_path):
    assert run(tmp_path, SendSignal('train', 8))[2] == 75
    saved = last_checkpoint(tmp_path)
    checkpoint = torch.load(saved, weights_only=False)
    checkpoint['meta'][POSITION]['world_size'] = 2
    torch.save(checkpoint, saved)
    with pytest.raises(ResumePositionError, match=r'world size 2 -> 1.*Resume with 2 processes'):
        run(tmp_path, resume=True)


def test_a_different_dataset_length_is_an_error_naming_both(tmp_path):
    assert run(tmp_path, SendSignal('train', 8))[2] == 75
    with pytest.raises(ResumePositionError, match='of 24 samples; this run\'s has 20'):
        run(tmp_path, resume=True, dataset_size=20)


def test_an_iteration_based_run_warns_on_another_batch_size_and_continues(tmp_path):
    """No epoch to finish: the documented rule is mmengine's (same iteration, new split)."""
    assert run(tmp_path, SendSignal('train', 5), loop='iter')[2] == 75
    final, messages, status = run(tmp_path, resume=True, loop='iter', batch_size=2)
    assert status is None and osp.exists(tmp_path / 'iter_12.pth')
    assert any('with a different batch size 4 -> 2: the run continues from the same iteration' in m
               for m in messages)


def test_an_epoch_checkpoint_resumes_under_another_batch_size(tmp_path):
    """Only a position inside an epoch ties the resume to the data split."""
    run(tmp_path,
        SendSignal('train', 8),
        extra_default_hooks=dict(
            preemption=dict(type='PreemptionHook', grace_period=1e-6)))  # exits on epoch_1.pth
    final, _, status = run(tmp_path, resume=True, batch_size=2)
    assert status is None and all(
        torch.isfinite(v).all() for v in final.values() if v.is_floating_point())


def test_checkpoints_of_plain_mmengine_still_resume(tmp_path, reference):
    """An epoch checkpoint without the hook's position record: mmengine's own resume."""
    killed = []
    run(tmp_path, extra_default_hooks={}, record=killed, checkpoint_type='CheckpointHook')
    os.remove(tmp_path / 'epoch_3.pth')
    os.remove(tmp_path / 'epoch_2.pth')
    with open(tmp_path / 'last_checkpoint', 'w') as f:
        f.write(str(tmp_path / 'epoch_1.pth'))
    final, _, status = run(tmp_path, resume=True)
    assert status is None
    assert_identical(final, reference['epoch'][0])


class SignalEveryProcess(Hook):
    """As Slurm's --signal does: SIGTERM from another process to this one and its DataLoader
    workers."""
    priority = 'VERY_HIGH'

    def __init__(self, workers=2):
        self.workers = workers

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter != 8:
            return
        loop = runner.train_loop
        iterator = (
            loop.dataloader_iterator._iterator
            if hasattr(loop, 'dataloader_iterator') else loop.dataloader._iterator)
        pids = [str(w.pid) for w in iterator._workers[:self.workers]] + [str(os.getpid())]
        subprocess.run(['kill', '-TERM', *pids], check=True)


@pytest.mark.parametrize('loop', ['epoch', 'iter'])
def test_dataloader_workers_outlive_the_signal(tmp_path, loop):
    assert run(tmp_path, SignalEveryProcess(), loop=loop, num_workers=2)[2] == 75
    final, _, status = run(tmp_path, resume=True, loop=loop, num_workers=2)
    assert status is None and osp.exists(tmp_path /
                                         ('epoch_3.pth' if loop == 'epoch' else 'iter_12.pth'))


class SignalOneWorker(Hook):
    """In iteration 8: SIGTERM from another process to one DataLoader worker; writes how the
    worker ended within 3 s (or 'alive') to ``outcome.txt`` and ends this process."""
    priority = 'VERY_HIGH'

    def __init__(self, work_dir):
        self.work_dir = work_dir

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter != 8:
            return
        # torch's SIGCHLD handler would raise at a worker's death, wherever this process is
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        pid = runner.train_loop.dataloader_iterator._iterator._workers[0].pid
        subprocess.run(['kill', '-TERM', str(pid)], check=True)  # from outside, as Slurm's
        outcome, deadline = 'alive', time.monotonic() + 3
        while time.monotonic() < deadline:
            ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if ended is not None:
                outcome = (f'killed by {signal.Signals(ended.si_status).name}' if ended.si_code
                           in (os.CLD_KILLED, os.CLD_DUMPED) else f'exited {ended.si_status}')
                break
            time.sleep(0.05)
        with open(osp.join(self.work_dir, 'outcome.txt'), 'w') as f:
            f.write(outcome)
        os._exit(0)  # a worker that died stays registered with torch's handler: no one goes on


def _signal_one_worker(_, work_dir, restart_workers):
    torch.set_num_threads(1)
    if not restart_workers:  # as before the hook restarted them, with its worker_init_fn
        preemption._IgnoreSignalsInWorkers.__call__ = lambda self, worker_id: None
        PreemptionHook.before_train_epoch = lambda self, runner: None
    run(work_dir, SignalOneWorker(work_dir), loop='iter', num_workers=2)


@pytest.mark.parametrize('restart_workers', [True, False])
def test_an_iteration_based_runs_workers_outlive_the_signal(tmp_path, restart_workers):
    """mmengine starts an iteration-based loop's workers before any hook runs; the hook starts
    them again with its ``worker_init_fn``. Control: without that, the signal kills them. (In a
    process of its own.)"""
    mp.spawn(_signal_one_worker, args=(str(tmp_path), restart_workers), nprocs=1)
    outcome = (tmp_path / 'outcome.txt').read_text()
    assert outcome == ('alive' if restart_workers else 'killed by SIGTERM')


def _two_process_worker(rank, work_dir, port, loop):
    join_two_process_group(rank, port)
    reference = run(osp.join(work_dir, 'reference'), loop=loop, distributed=True)[0]
    preempted = osp.join(work_dir, 'preempted')
    # the signal reaches rank 1 only, in iteration 4 (epoch 2 of 3 batches per rank): both save
    # and exit at its end
    signal_hook = SendSignal('train', 4) if rank == 1 else None
    status = run(preempted, signal_hook, loop=loop, distributed=True)[2]
    resumed = run(preempted, resume=True, loop=loop, distributed=True)[0]
    torch.save(
        dict(reference=reference, resumed=resumed, status=status),
        osp.join(work_dir, f'rank{rank}.pth'))
    dist.destroy_process_group()


@pytest.mark.parametrize('loop', ['epoch', 'iter'])
def test_two_processes_signal_on_one_rank(tmp_path, loop):
    mp.spawn(_two_process_worker, args=(str(tmp_path), free_port(), loop), nprocs=2)
    for rank in range(2):
        result = torch.load(tmp_path / f'rank{rank}.pth', weights_only=True)
        assert result['status'] == PREEMPTED_EXIT_STATUS
        assert_identical(result['resumed'], result['reference'])
    position = load_checkpoint_file(
        str(tmp_path / 'preempted' / 'epoch_3.pth' if loop == 'epoch' else tmp_path / 'preempted' /
            'iter_12.pth'))['meta'][POSITION]
    assert position['world_size'] == 2
