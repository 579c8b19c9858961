"""A preemption costs one iteration: save at the next iteration boundary on a signal, and resume in
the middle of an epoch exactly.

A cluster ends a job with a signal (SIGTERM, or the one ``sbatch --signal`` names) and, a grace
period later, SIGKILL. :class:`PreemptionHook`, set in every config of ``configs/``:

1. installs a handler for its ``signals`` (default SIGTERM) that only records the signal;
2. at every iteration boundary (training and validation) the ranks agree whether any of them got
   one (one all-reduce of a scalar; nothing with one process);
3. if so, writes one checkpoint, ``preempted_iter_<N>.pth``, through the atomic path of
   :class:`~mmmoga.engine.AtomicCheckpointHook` (model, optimizer with its AMP loss scaler,
   schedulers, EMA, message hub, every rank's RNG states with
   :class:`~mmmoga.engine.RandomStateHook`, and the position inside the epoch), points
   ``last_checkpoint`` at it and exits with :data:`PREEMPTED_EXIT_STATUS` (75);
4. on ``--resume`` from a checkpoint written inside an epoch, continues that epoch from the next
   batch: the batch sampler skips the batches already trained (indices only, nothing is loaded),
   so the run ends bit for bit like an uninterrupted one where the data is drawn in the training
   process (``num_workers=0``). A validation that a signal stopped runs again first.

Mid-epoch checkpoints do not count against ``max_keep_ckpts``; the next regular checkpoint
removes them. With ``grace_period`` (or ``MMMOGA_PREEMPT_GRACE``, seconds from the signal to
SIGKILL) a save that would not finish in time is not started: the run exits at once and
``last_checkpoint`` keeps naming the previous checkpoint.

Rules on resume, for a checkpoint written inside an epoch: a different number of processes, batch
size per process or dataset length is an error naming both values (an epoch checkpoint resumes
under any of them). Iteration-based loops have no epoch to finish: there a different number of
processes or batch size is a warning, and the run continues from the same iteration with the new
split, as mmengine does; a different dataset length is an error.
"""
import itertools
import os
import os.path as osp
import signal
import threading
import time
from typing import List, Optional, Sequence, Union

import torch
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import EMAHook, Hook
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, IterBasedTrainLoop

from mmmoga.registry import register_hook
from mmmoga.utils.atomic_io import atomic_write_text
from mmmoga.utils.checkpoint import CheckpointError
from .fault_tolerance import (INTERIM_CHECKPOINTS, PENDING_REMOVAL, AtomicCheckpointHook,
                              last_checkpoint, remove_checkpoint, write_checkpoint)
from .hooks import RandomStateHook

__all__ = [
    'PreemptionHook', 'TrainingPreempted', 'ResumePositionError', 'PREEMPTED_EXIT_STATUS',
    'EXIT_STATUS_FILE_ENV', 'GRACE_ENV', 'POSITION'
]

#: exit status of a preempted run that saved (or had nothing new to save): EX_TEMPFAIL of
#: sysexits.h, "a temporary failure; run the same command again"; list it in Slurm's RequeueExit
PREEMPTED_EXIT_STATUS = 75
#: a file the launcher names; rank 0 writes the exit status there (torchrun reports its own)
EXIT_STATUS_FILE_ENV = 'MMMOGA_EXIT_STATUS_FILE'
#: seconds from the signal to SIGKILL, when the hook's ``grace_period`` is not set
GRACE_ENV = 'MMMOGA_PREEMPT_GRACE'
#: checkpoint meta key: where in the schedule the checkpoint was written
POSITION = 'mmmoga_position'
ALLOWED_SIGNALS = ('SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGINT', 'SIGHUP')


class TrainingPreempted(SystemExit):
    """The run stopped on a preemption signal; ``code`` is :data:`PREEMPTED_EXIT_STATUS`."""

    def __init__(self, message: str):
        super().__init__(PREEMPTED_EXIT_STATUS)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ResumePositionError(CheckpointError):
    """A checkpoint written inside an epoch cannot continue that epoch under this run's data."""


class _SkipBatchesOnce:
    """Stands in for a DataLoader's batch sampler: the next pass leaves out its first ``skip``
    batches (their indices are drawn, nothing is loaded); later passes are the sampler's own."""

    def __init__(self, batch_sampler, skip: int):
        self.batch_sampler, self.skip = batch_sampler, skip

    def __iter__(self):
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.batch_sampler), skip, None)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __getattr__(self, name):
        if name == 'batch_sampler':  # not yet set (copy, unpickling)
            raise AttributeError(name)
        return getattr(self.batch_sampler, name)


def _skip_batches(loader, skip: int):
    """An iterator over ``loader`` that starts ``skip`` batches into its next pass, made without
    drawing from torch's RNG (a DataLoader iterator draws its workers' base seed)."""
    if loader.batch_sampler is None:
        raise ResumePositionError('Resuming inside an epoch needs a DataLoader with a batch '
                                  'sampler (batch_size set); this one has none.')
    if skip:
        object.__setattr__(loader, 'batch_sampler', _SkipBatchesOnce(loader.batch_sampler, skip))
    sampler = _sampler(loader)
    if isinstance(sampler, InfiniteSampler):
        # its index stream is one generator that every iterator shares (and closing one closes):
        # a fresh one from the seed
        sampler.indices = sampler._indices_of_rank()
    state = torch.get_rng_state()
    loader._iterator = None  # persistent workers: a new iterator takes the new batch sampler
    iterator = iter(loader)
    torch.set_rng_state(state)
    return iterator


def _batch_size(loader) -> Optional[int]:
    """Samples per batch of this process (the batch sampler's, where there is one)."""
    if loader.batch_sampler is None:
        return loader.batch_size
    return getattr(loader.batch_sampler, 'batch_size', None)


def _sampler(loader):
    return loader.batch_sampler.sampler if loader.batch_sampler is not None else loader.sampler


class _IgnoreSignalsInWorkers:
    """``worker_init_fn`` of the training DataLoader: its worker processes outlive a preemption
    signal from outside (a scheduler signals every process; the training process saves, and its
    workers must not die before), and still end when the training process itself signals them
    (the DataLoader's shutdown). Then the loader's own init function runs."""

    def __init__(self, init_fn, signals: Sequence[int]):
        self.init_fn, self.signals, self.trainer = init_fn, tuple(signals), os.getpid()

    def __call__(self, worker_id: int) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, self.signals)  # this thread and all it starts
        threading.Thread(target=self._watch, name='preemption-signals', daemon=True).start()
        if self.init_fn is not None:
            self.init_fn(worker_id)

    def _watch(self) -> None:
        while True:
            info = signal.sigwaitinfo(self.signals)
            if info.si_pid == self.trainer:  # the DataLoader ends its workers: as torch's own
                os._exit(0)  # SIGTERM handler in a worker does for its parent's signal


class _SkippedFetches:
    """Stands in for ``IterBasedTrainLoop.dataloader_iterator`` on resume: mmengine's loop calls
    ``next`` once per trained batch to skip it; these calls return at once (the batch sampler
    skipped the same batches), then the loop's own iterator takes over again."""
    skips_without_loading = True

    def __init__(self, loop, calls: int):
        self._loop, self._calls, self._iterator = loop, calls, loop.dataloader_iterator

    def __iter__(self):
        return self

    def __next__(self):
        if self._calls > 0:
            self._calls -= 1
            return None
        self._loop.dataloader_iterator = self._iterator
        return next(self._iterator)


def _run_rest_of_epoch(loop: EpochBasedTrainLoop, done: int) -> None:
    """``EpochBasedTrainLoop.run_epoch`` from batch ``done`` on (batch indices as in a full
    epoch); the loop's own ``run_epoch`` takes over from the next epoch."""
    runner = loop.runner
    runner.call_hook('before_train_epoch')
    del loop.run_epoch
    runner.model.train()
    for idx, data_batch in enumerate(_skip_batches(loop.dataloader, done), start=done):
        loop.run_iter(idx, data_batch)
    runner.call_hook('after_train_epoch')
    loop._epoch += 1


@register_hook()
class PreemptionHook(Hook):
    """Save at the next iteration boundary on a preemption signal and exit with status 75; resume
    in the middle of an epoch exactly. See the module docstring.

    Args:
        signals: the signals that mean "preempted" (names: SIGTERM, SIGUSR1, SIGUSR2, SIGINT,
            SIGHUP). Default SIGTERM, what Slurm, Kubernetes and ``kill`` send.
        grace_period: seconds from the signal to SIGKILL. A save the last ones measured say would
            not finish in time is not started. Default: ``MMMOGA_PREEMPT_GRACE``, else unknown
            (always save; the atomic write leaves the previous checkpoint intact if killed).
    """
    priority = 'LOWEST'  # after every other hook of an iteration (EMA, schedulers, logging, ...)

    def __init__(self,
                 signals: Sequence[Union[str, int]] = ('SIGTERM', ),
                 grace_period: Optional[float] = None):
        self.signals = tuple(self._signal(s) for s in signals)
        if grace_period is None and os.environ.get(GRACE_ENV):
            grace_period = float(os.environ[GRACE_ENV])
        self.grace_period = grace_period
        self._received: List[tuple] = []  # (signal number, time.monotonic()) from the handler
        self._previous = {}
        self._position: Optional[dict] = None  # to resume from
        self._validating = False
        self._pending_validation = False  # written into the checkpoint being saved
        self.skips_without_loading = False

    @staticmethod
    def _signal(name: Union[str, int]) -> signal.Signals:
        try:
            sig = signal.Signals[name] if isinstance(name, str) else signal.Signals(name)
        except (KeyError, ValueError):
            sig = None
        if sig is None or sig.name not in ALLOWED_SIGNALS:
            raise ValueError(f'PreemptionHook: signals must be among {", ".join(ALLOWED_SIGNALS)}; '
                             f'got {name!r}.')
        return sig

    # --------------------------------------------------------------------------------------------
    # the signal

    def _handle(self, signum, frame) -> None:  # only records: safe at any moment
        self._received.append((signum, time.monotonic()))

    def before_run(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: not in the main thread, so it cannot install '
                                  'signal handlers; a preemption signal ends the run at once.')
            return
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        if self.signals and isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            loader = runner.train_loop.dataloader
            if loader.num_workers > 0 and not isinstance(loader.worker_init_fn,
                                                         _IgnoreSignalsInWorkers):
                loader.worker_init_fn = _IgnoreSignalsInWorkers(loader.worker_init_fn, self.signals)

    def after_run(self, runner) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def _agreed(self, estimate: float = 0.0):
        """Collective: (seconds since the earliest signal on any rank, rank 0's save estimate), or
        None when no rank got a signal."""
        if not self.signals:  # switched off
            return None
        elapsed = time.monotonic() - self._received[0][1] if self._received else -1.0
        if get_world_size() > 1:
            values = torch.tensor([elapsed, estimate if is_main_process() else 0.0],
                                  dtype=torch.float64)
            all_reduce(values, op='max')
            elapsed, estimate = values.tolist()
        return None if elapsed < 0 else (elapsed, estimate)

    # --------------------------------------------------------------------------------------------
    # saving and exiting

    @staticmethod
    def _hooks(runner, kind) -> list:
        return [hook for hook in runner.hooks if isinstance(hook, kind)]

    def _checkpoint_hook(self, runner) -> Optional[AtomicCheckpointHook]:
        hooks = self._hooks(runner, AtomicCheckpointHook)
        return hooks[0] if hooks else None

    def _estimate(self, runner) -> float:
        hook = self._checkpoint_hook(runner)
        return (hook.last_save_seconds or 0.0) if hook else 0.0

    def _signal_names(self) -> str:
        names = [signal.Signals(signum).name for signum, _ in self._received]
        counted = dict.fromkeys(names)
        return ', '.join(f'{name} x{names.count(name)}' if names.count(name) > 1 else name
                         for name in counted)

    def _exit(self, runner, what: str) -> None:
        """Collective: record the exit status, wait for every rank, restore the handlers, raise."""
        elapsed = time.monotonic() - self._received[0][1] if self._received else 0.0
        message = (f'Preempted ({self._signal_names() or "a signal on another rank"}): {what} '
                   f'Exiting with status {PREEMPTED_EXIT_STATUS} {elapsed:.1f} s after the signal. '
                   f'Continue with `tools/train.py CONFIG --resume` (tools/slurm_train.sh '
                   f'requeues and resumes on its own).')
        status_file = os.environ.get(EXIT_STATUS_FILE_ENV)
        if status_file and is_main_process():
            atomic_write_text(f'{PREEMPTED_EXIT_STATUS}\n', status_file)
        barrier()  # nobody leaves before rank 0's checkpoint and status are written
        runner.logger.warning(message)
        self.after_run(runner)
        raise TrainingPreempted(message)

    def _preempt(self, runner, agreed, where: str, meta_epoch: int, meta_iter: int,
                 pending_validation: bool) -> None:
        elapsed, estimate = agreed
        runner.logger.warning(f'Preemption signal ({self._signal_names() or "on another rank"}) '
                              f'{elapsed:.1f} s ago: saving at the end of {where}.')
        if self.grace_period is not None and elapsed + estimate > self.grace_period:
            last = last_checkpoint(runner.work_dir)
            self._exit(
                runner, f'not saving: the last save took {estimate:.1f} s and only '
                f'{max(0.0, self.grace_period - elapsed):.1f} s of the {self.grace_period:g} s '
                f'grace period are left. last_checkpoint is unchanged ({last}).')
        for hook in self._hooks(runner, RandomStateHook):
            hook.gather_states(runner)  # collective
        if self._validating:  # EMAHook validates with the averaged weights: put the trained back
            for hook in self._hooks(runner, EMAHook):
                hook._swap_ema_parameters()
        started = time.monotonic()
        path = self._save(runner, meta_epoch, meta_iter, pending_validation)
        self._exit(runner, f'saved {path} in {time.monotonic() - started:.1f} s.')

    def _save(self, runner, meta_epoch: int, meta_iter: int, pending_validation: bool) -> str:
        hook = self._checkpoint_hook(runner)
        # beside the regular checkpoints when they are local (an s3:// out_dir: the work dir)
        out_dir = hook.out_dir if hook is not None and hook._atomic else runner.work_dir
        filename = f'preempted_iter_{meta_iter}.pth'
        path = osp.join(out_dir, filename)
        hub = runner.message_hub
        superseded = [p for p in hub.get_info(INTERIM_CHECKPOINTS) or [] if p != path]
        # recorded in the checkpoint itself: the next regular checkpoint removes it, and a run
        # killed before the superseded ones are removed removes them on resume
        hub.update_info(INTERIM_CHECKPOINTS, [path])
        hub.update_info(PENDING_REMOVAL, superseded)
        self._pending_validation = pending_validation
        try:
            write_checkpoint(runner, out_dir, filename, meta=dict(epoch=meta_epoch, iter=meta_iter))
        finally:
            self._pending_validation = False
        if is_main_process():
            atomic_write_text(path, osp.join(runner.work_dir, 'last_checkpoint'))
            for old in superseded:
                remove_checkpoint(old)
        hub.update_info(PENDING_REMOVAL, [])
        return path

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Record where in the schedule this checkpoint is (rank 0 only)."""
        loop = runner.train_loop
        meta = checkpoint['meta']
        loader = loop.dataloader
        position = dict(
            world_size=get_world_size(),
            batch_size=_batch_size(loader),
            dataset_length=len(loader.dataset),
            epoch_length=len(loader),
            sampler_seed=getattr(_sampler(loader), 'seed', None),
            validation_pending=self._pending_validation)
        if isinstance(loop, EpochBasedTrainLoop):
            position['batch'] = meta['iter'] - meta['epoch'] * len(loader)
        meta[POSITION] = position

    # --------------------------------------------------------------------------------------------
    # the boundaries

    def before_train(self, runner) -> None:
        agreed = self._agreed()
        if agreed is not None:  # during start-up or resume: nothing new to save
            self._exit(
                runner, f'the signal came before the first iteration, nothing new to save; '
                f'last_checkpoint is unchanged ({last_checkpoint(runner.work_dir)}).')
        position, loop = self._position, runner.train_loop
        if position is None:
            return
        if position.get('validation_pending') and runner.val_loop is not None:
            for hook in self._hooks(runner, RandomStateHook):
                hook.restore(runner)
            runner.logger.info('Running the validation that the preemption stopped.')
            runner.val_loop.run()
        if isinstance(loop, EpochBasedTrainLoop) and position.get('batch', 0) > 0:
            done = position['batch']
            if type(loop).run_epoch is not EpochBasedTrainLoop.run_epoch:
                raise ResumePositionError(
                    f'{type(loop).__name__} has its own run_epoch, so the hook cannot continue '
                    f'epoch {runner.epoch + 1} from batch {done + 1}: resume from an epoch '
                    f'checkpoint (--resume work_dir/epoch_{runner.epoch}.pth).')
            loop.run_epoch = lambda: _run_rest_of_epoch(loop, done)
            runner.logger.info(f'Resuming inside epoch {runner.epoch + 1}: its first {done} of '
                               f'{len(loop.dataloader)} batches are skipped without loading.')
        elif isinstance(loop, IterBasedTrainLoop) and runner.iter > 0:
            sampler = _sampler(loop.dataloader)
            self.skips_without_loading = isinstance(sampler, (InfiniteSampler, DefaultSampler))
            if not self.skips_without_loading:
                runner.logger.info(f'{type(sampler).__name__} is not a sampler the hook knows: '
                                   f'mmengine fetches the {runner.iter} trained batches to skip '
                                   f'them.')

    def before_train_epoch(self, runner) -> None:
        loop = runner.train_loop
        if not isinstance(loop, IterBasedTrainLoop):
            return
        if not self.skips_without_loading:
            if loop.dataloader.num_workers > 0 and self.signals:
                # its workers started with the loop, before the hook: start them again with it
                loop.dataloader_iterator._iterator = _skip_batches(loop.dataloader, 0)
            return
        self.skips_without_loading = False
        loader, skip = loop.dataloader, runner.iter
        sampler = _sampler(loader)
        if isinstance(sampler, DefaultSampler):  # passes over the data, each a sampler epoch
            passes, skip = divmod(skip, len(loader))
            loop.dataloader_iterator._epoch = passes
            sampler.set_epoch(passes)
        loop.dataloader_iterator._iterator = _skip_batches(loader, skip)
        loop.dataloader_iterator = _SkippedFetches(loop, runner.iter)
        runner.logger.info(f'Resuming at iteration {runner.iter}: the trained batches are '
                           f'skipped without loading.')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        agreed = self._agreed(self._estimate(runner))
        if agreed is None:
            return
        loop, done = runner.train_loop, runner.iter + 1
        if isinstance(loop, IterBasedTrainLoop):
            where = f'iteration {done}'
            val_due = (
                runner.val_loop is not None and done >= loop.val_begin
                and (done % loop.val_interval == 0 or done == loop.max_iters))
        else:
            where = (f'iteration {done} (epoch {runner.epoch + 1}, batch {batch_idx + 1} of '
                     f'{len(loop.dataloader)})')
            val_due = False  # the loop validates after the epoch, which the resumed run finishes
        self._preempt(runner, agreed, where, runner.epoch, done, val_due)

    def before_val(self, runner) -> None:
        self._validating = isinstance(getattr(runner, '_train_loop', None), BaseLoop)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self._validating:
            return
        agreed = self._agreed(self._estimate(runner))
        if agreed is not None:
            self._preempt(
                runner, agreed, f'validation batch {batch_idx + 1} (the validation '
                f'runs again on resume)', runner.epoch, runner.iter, True)

    def after_val(self, runner) -> None:
        self._validating = False

    # --------------------------------------------------------------------------------------------
    # resume

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return
        position = (checkpoint.get('meta') or {}).get(POSITION)
        if not position:
            return  # an epoch checkpoint of plain mmengine: its own resume
        loop = runner.train_loop
        loader = loop.dataloader
        meta = checkpoint['meta']
        epoch_based = isinstance(loop, EpochBasedTrainLoop)
        inside = position.get('batch', 0) > 0 if epoch_based else meta['iter'] > 0
        if not inside:
            self._position = position
            return
        now = dict(
            world_size=get_world_size(),
            batch_size=_batch_size(loader),
            dataset_length=len(loader.dataset))
        where = (f'inside epoch {meta["epoch"] + 1} (after batch {position.get("batch")})'
                 if epoch_based else f'at iteration {meta["iter"]}')
        if position['dataset_length'] != now['dataset_length']:
            raise ResumePositionError(
                f'The checkpoint was written {where} of a training set of '
                f'{position["dataset_length"]} samples; this run\'s has {now["dataset_length"]}. '
                f'Its position in the data means nothing for another dataset: train with the '
                f'same dataset, or start a new run from its weights (load_from=...).')
        changed = [(name, position.get(name), now[name]) for name in ('world_size', 'batch_size')
                   if position.get(name) is not None and position.get(name) != now[name]]
        if changed:
            listed = ', '.join(f'{name.replace("_", " ")} {old} -> {new}'
                               for name, old, new in changed)
            if epoch_based:
                raise ResumePositionError(
                    f'The checkpoint was written {where}; this run has a different {listed}, so '
                    f'skipping its trained batches would repeat or leave out samples. Resume with '
                    f'{position["world_size"]} processes of batch size {position["batch_size"]}, '
                    f'or from an epoch checkpoint (--resume work_dir/epoch_{meta["epoch"]}.pth), '
                    f'which resumes under any.')
            runner.logger.warning(
                f'Resuming {where} with a different {listed}: the run continues from the same '
                f'iteration with the new split of the data, as mmengine does; it will not equal '
                f'an uninterrupted run.')
        sampler = _sampler(loader)
        seed = position.get('sampler_seed')
        if seed is not None and getattr(sampler, 'seed', seed) != seed:
            runner.logger.info(f'The sampler continues with the checkpoint\'s seed {seed} '
                               f'(this run drew {sampler.seed}).')
            sampler.seed = seed
        if epoch_based and position['epoch_length'] != len(loader):
            raise ResumePositionError(
                f'The checkpoint was written {where} of an epoch of {position["epoch_length"]} '
                f'batches; this run\'s epoch has {len(loader)}: resume from an epoch checkpoint.')
        self._position = position
