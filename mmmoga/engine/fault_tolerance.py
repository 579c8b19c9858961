"""Nothing lost when a run dies: crash-safe checkpoints and a stop on a non-finite loss.

:class:`AtomicCheckpointHook` is mmengine's ``CheckpointHook`` with the order of a save made safe
against a kill, a preemption or a full disk at any moment. mmengine's hook deletes the
checkpoint that falls out of ``max_keep_ckpts`` (and the previous best checkpoint) *before* writing
the new one, straight into its final name; with ``max_keep_ckpts=1`` a kill during that write
leaves no complete checkpoint. This hook, for every checkpoint it writes (regular, best, published):

1. refuses to write weights that hold NaN or inf (:class:`NonFiniteWeightsError`);
2. writes the file atomically (:func:`mmmoga.utils.atomic_io.atomic_write_bytes`: a temporary file
   in the same folder, fsync, rename into place, fsync of the folder);
3. then points ``last_checkpoint`` at it (written the same way);
4. and only then removes what falls out of ``max_keep_ckpts`` and the replaced best checkpoint.
   What it is about to remove is recorded in the checkpoint itself (message hub,
   ``mmmoga_pending_removal``), so a run killed between 3 and 4 finishes the removal on resume;
   partial temporary files of a killed run are removed at the start of the next one.

A full disk stops the run with an error that names the folder and the space needed, and leaves the
previous checkpoint and ``last_checkpoint`` as they were. For an ``out_dir`` that is not a local
folder (``s3://``, ...) the hook warns and writes as mmengine does.

:class:`NonFiniteLossHook` stops the run at the first iteration whose loss terms are not finite
(on any rank), with a message naming the iteration and the terms, before anything of the diverged
state is saved. Under mixed precision with a dynamic loss scale, a step the scaler skipped (the
weights are still finite) is logged and training continues, up to ``max_skipped`` in a row.

Both are set in every config of ``configs/``, beside :class:`~mmmoga.engine.PreemptionHook`
(a save on SIGTERM, whose mid-epoch checkpoints the next regular checkpoint removes)::

    default_hooks = dict(
        checkpoint=dict(type='AtomicCheckpointHook'),
        finite_loss=dict(type='NonFiniteLossHook'),
        preemption=dict(type='PreemptionHook'))
"""
import hashlib
import io
import math
import os
import os.path as osp
import shutil
import time
from collections import deque
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import all_gather_object, all_reduce, get_world_size, is_main_process
from mmengine.fileio.backends import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper

from mmmoga.registry import register_hook
from mmmoga.utils.atomic_io import (CheckpointWriteError, atomic_write_bytes, atomic_write_text,
                                    fault_pause, leftover_temp_files)

__all__ = [
    'AtomicCheckpointHook', 'NonFiniteLossHook', 'AtomicLocalBackend', 'NonFiniteError',
    'NonFiniteLossError', 'NonFiniteWeightsError', 'non_finite_tensors', 'PENDING_REMOVAL',
    'INTERIM_CHECKPOINTS', 'last_checkpoint', 'remove_checkpoint', 'write_checkpoint'
]

#: mmengine file backend that :class:`AtomicCheckpointHook` hands to ``Runner.save_checkpoint``
ATOMIC_BACKEND = 'mmmoga_atomic_local'
#: message-hub key: files the checkpoint's own save is about to remove (finished on resume)
PENDING_REMOVAL = 'mmmoga_pending_removal'
#: message-hub key: mid-epoch checkpoints (PreemptionHook) the next regular checkpoint removes
INTERIM_CHECKPOINTS = 'mmmoga_interim_checkpoints'


class NonFiniteError(RuntimeError):
    """Training produced NaN or inf; the message names where and what was kept."""


class NonFiniteLossError(NonFiniteError):
    """A loss term is NaN or inf."""


class NonFiniteWeightsError(NonFiniteError):
    """The model to be saved holds NaN or inf; nothing was written."""


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic (temporary file, fsync, rename)."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), str(filepath))


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


def _model(runner) -> torch.nn.Module:
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def non_finite_tensors(module: torch.nn.Module) -> List[str]:
    """Names of the floating-point parameters and buffers of ``module`` holding NaN or inf."""
    named = [(k, v) for k, v in module.state_dict().items() if v.is_floating_point() and v.numel()]
    if not named:
        return []
    flags = torch.stack([~torch.isfinite(v).all() for _, v in named]).cpu()  # one device sync
    return [name for (name, _), bad in zip(named, flags.tolist()) if bad]


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The path ``work_dir/last_checkpoint`` names, or None."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    try:
        with open(pointer) as f:
            return f.read().strip() or None
    except OSError:
        return None


def _kept(runner) -> str:
    last = last_checkpoint(runner.work_dir)
    if last is None:
        return 'No checkpoint had been written yet.'
    return (f'The last complete checkpoint, {last}, is unchanged and last_checkpoint points at '
            f'it: continue from it with `tools/train.py CONFIG --resume`.')


def _position(runner, batch_idx: Optional[int] = None) -> str:
    loop = runner.train_loop
    if batch_idx is not None and not hasattr(loop, 'dataloader_iterator'):  # epoch-based
        return (f'iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch {batch_idx + 1} of '
                f'{len(loop.dataloader)})')
    return f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'


def write_checkpoint(runner, out_dir: str, filename: str, **kwargs) -> float:
    """``runner.save_checkpoint`` into ``out_dir/filename`` through the atomic backend (rank 0
    writes; the others return at once); returns the seconds it took. ``kwargs`` go to
    ``save_checkpoint``."""
    started = time.monotonic()
    runner.save_checkpoint(
        out_dir,
        filename,
        file_client_args=None,
        backend_args=dict(backend=ATOMIC_BACKEND),
        **kwargs)
    return time.monotonic() - started


def remove_checkpoint(path: str) -> bool:
    """Remove a checkpoint file (or folder); False when it was not there."""
    if osp.isfile(path) or osp.islink(path):
        os.remove(path)
        return True
    if osp.isdir(path):  # DeepSpeed / FSDP checkpoints are folders
        shutil.rmtree(path)
        return True
    return False


@register_hook()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) with crash-safe, ordered writes.

    See the module docstring for the order. ``check_finite`` (default True) refuses to save a
    model that holds NaN or inf, so a diverged state never replaces a good checkpoint.
    """

    def __init__(self, *args, check_finite: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.check_finite = check_finite
        self._atomic = True
        self._replaced_best: List[str] = []
        #: seconds the last checkpoint write of this process took (rank 0: the real write)
        self.last_save_seconds: Optional[float] = None

    # --------------------------------------------------------------------------------------------
    # start of a run: finish what a killed run left

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._atomic = (
            self.file_client_args is None and isinstance(self.file_backend, LocalBackend))
        if not self._atomic:
            runner.logger.warning(
                f'AtomicCheckpointHook: {self.out_dir} is not a local folder '
                f'({type(self.file_backend).__name__}); its checkpoints are written as mmengine '
                f'writes them, without atomic, ordered writes.')
            return
        if is_main_process():
            self._finish_killed_save(runner)

    def _finish_killed_save(self, runner) -> None:
        for folder in dict.fromkeys([self.out_dir, runner.work_dir]):
            for tmp in leftover_temp_files(folder):
                os.remove(tmp)
                runner.logger.info(f'Removed {tmp}: the partial write of a killed run.')
        keep = {
            osp.abspath(p)
            for p in (last_checkpoint(runner.work_dir), runner.message_hub.get_info('last_ckpt'),
                      *self._best_paths()) if p
        }
        for path in runner.message_hub.get_info(PENDING_REMOVAL) or []:
            if osp.abspath(path) not in keep and remove_checkpoint(path):
                runner.logger.info(f'Removed {path}: a killed run had written its successor but '
                                   f'not yet removed it (max_keep_ckpts, or a replaced best).')
        runner.message_hub.update_info(PENDING_REMOVAL, [])
        if self.save_best:
            self._warn_unrecorded_best(runner, keep)

    def _best_paths(self) -> List[str]:
        if not self.save_best:
            return []
        if len(self.key_indicators) == 1:
            return [self.best_ckpt_path] if self.best_ckpt_path else []
        return [p for p in self.best_ckpt_path_dict.values() if p]

    def _warn_unrecorded_best(self, runner, keep) -> None:
        prefixes = tuple(f'best_{key}_'.replace('/', '_') for key in self.key_indicators
                         if key != 'auto')
        if not prefixes or not osp.isdir(self.out_dir):
            return
        for name in sorted(os.listdir(self.out_dir)):
            path = osp.join(self.out_dir, name)
            if name.startswith(prefixes) and osp.abspath(path) not in keep:
                runner.logger.warning(
                    f'{path} is a best checkpoint the resumed checkpoint does not know of (a run '
                    f'killed right after writing it, or an earlier run in this folder); it is kept '
                    f'and will not be replaced by this run. Delete it if you do not need it.')

    # --------------------------------------------------------------------------------------------
    # saving

    def _refuse_non_finite(self, runner, filename: str) -> None:
        if not self.check_finite:
            return
        bad = non_finite_tensors(_model(runner))
        if bad:
            listed = ', '.join(bad[:5]) + (f' and {len(bad) - 5} more' if len(bad) > 5 else '')
            raise NonFiniteWeightsError(
                f'Refusing to write {filename} at {_position(runner)}: {len(bad)} tensors of the '
                f'model hold NaN or inf ({listed}): training diverged. {_kept(runner)} Lower the '
                f'learning rate, lengthen the warm-up or clip gradients '
                f'(optim_wrapper.clip_grad=dict(max_norm=...)) before resuming.')

    def _write(self, runner, filename: str, **kwargs) -> None:
        try:
            self.last_save_seconds = write_checkpoint(runner, self.out_dir, filename, **kwargs)
        except CheckpointWriteError as err:
            last = last_checkpoint(runner.work_dir)
            kept = (f' The previous checkpoint {last} is intact and last_checkpoint still points '
                    f'at it: after making room, continue with `tools/train.py CONFIG --resume`.'
                    if last else '')
            err.args = (f'{err.args[0]}{kept}', ) + err.args[1:]
            raise

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._atomic:
            return super()._save_checkpoint_with_step(runner, step, meta)
        filename = self.filename_tmpl.format(step)
        path = self.file_backend.join_path(self.out_dir, filename)
        self._refuse_non_finite(runner, filename)

        removals, self._replaced_best = list(self._replaced_best), []
        # called twice for one step when a best checkpoint is saved: count the step once
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            steps = [*self.keep_ckpt_ids, step]
            cut = max(0, len(steps) - self.max_keep_ckpts)
            removals = [
                self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
                for old in steps[:cut]
            ] + removals
            self.keep_ckpt_ids = deque(steps[cut:], self.max_keep_ckpts)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        # mid-epoch checkpoints of a preempted run end with the next regular one
        removals += runner.message_hub.get_info(INTERIM_CHECKPOINTS) or []
        runner.message_hub.update_info(INTERIM_CHECKPOINTS, [])
        # stored in the checkpoint written below: a run killed before the removals finishes them
        runner.message_hub.update_info(PENDING_REMOVAL, removals)
        self.last_ckpt = path
        runner.message_hub.update_info('last_ckpt', path)

        self._write(
            runner,
            filename,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            **self.args)
        if is_main_process():
            fault_pause()  # fault injection only (MMMOGA_FAULT_SLOW_SAVE): written, not pointed at
            atomic_write_text(path, osp.join(runner.work_dir, 'last_checkpoint'))
            fault_pause()  # pointed at, the old ones not yet removed
            for old in removals:
                if osp.abspath(old) != osp.abspath(path) and remove_checkpoint(old):
                    runner.logger.info(f'Removed {old} (after {filename} was complete).')
        runner.message_hub.update_info(PENDING_REMOVAL, [])

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best:
            return
        if not self._atomic:
            return super()._save_best_checkpoint(runner, metrics)
        step = runner.epoch if self.by_epoch else runner.iter
        unit = 'epoch' if self.by_epoch else 'iter'
        meta = dict(epoch=runner.epoch, iter=runner.iter)
        if 'auto' in self.key_indicators:
            self._init_rule(self.rules, [next(iter(metrics))])
        single = len(self.key_indicators) == 1
        updated, replaced = False, []
        for key, rule in zip(self.key_indicators, self.rules):
            score = metrics[key]
            score_key, path_key = (('best_score', 'best_ckpt') if single else
                                   (f'best_score_{key}', f'best_ckpt_{key}'))
            best = runner.message_hub.get_info(score_key, self.init_value_map[rule])
            if score is None or not self.is_better_than[key](score, best):
                continue
            name = f'best_{key}_{self.filename_tmpl.format(step)}'.replace('/', '_')
            self._refuse_non_finite(runner, name)
            path = self.file_backend.join_path(self.out_dir, name)
            previous = self.best_ckpt_path if single else self.best_ckpt_path_dict[key]
            runner.message_hub.update_info(score_key, score)
            runner.message_hub.update_info(path_key, path)
            if single:
                self.best_ckpt_path = path
            else:
                self.best_ckpt_path_dict[key] = path
            self._write(
                runner,
                name,
                save_optimizer=False,
                save_param_scheduler=False,
                meta=meta,
                by_epoch=False)
            updated = True
            if previous and osp.abspath(previous) != osp.abspath(path):
                replaced.append(previous)  # removed only once the new best is recorded
            runner.logger.info(
                f'The best checkpoint with {score:0.4f} {key} at {step} {unit} is saved to {name}.')
        if updated and self.last_ckpt is not None:
            # save the regular checkpoint again so that it records the new best, then remove the
            # replaced ones (mmengine removes them before writing the new best)
            self._replaced_best = replaced
            self._save_checkpoint_with_step(runner, step, meta)
        elif replaced and is_main_process():
            for old in replaced:
                remove_checkpoint(old)

    def _publish_model(self, runner, ckpt_path: str) -> None:
        if not self._atomic:
            return super()._publish_model(runner, ckpt_path)
        if not is_main_process():
            return
        from mmengine.runner.checkpoint import _load_checkpoint
        checkpoint = _load_checkpoint(ckpt_path, map_location='cpu')
        dropped = [key for key in checkpoint if key not in self.published_keys]
        for key in dropped:
            checkpoint.pop(key)
        if dropped:
            runner.logger.info(f'Publishing without {dropped} (not in published_keys).')
        with io.BytesIO() as buffer:
            torch.save(checkpoint, buffer)
            data = buffer.getvalue()
        published = f'{osp.splitext(ckpt_path)[0]}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
        atomic_write_bytes(data, published)
        runner.logger.info(f'The checkpoint ({ckpt_path}) is published to {published}.')


@register_hook()
class NonFiniteLossHook(Hook):
    """Stop training at the first iteration whose loss terms (log keys containing ``loss``) are NaN
    or inf on any rank, before anything of that state is saved or averaged (EMA).

    The error names the iteration, every loss term of each rank that saw a non-finite one, and the
    last complete checkpoint. With ``AmpOptimWrapper`` (dynamic loss scale), a step the scaler
    skipped leaves the weights finite: it is logged and training continues, unless
    ``max_skipped`` such steps come in a row.
    """
    priority = 'ABOVE_NORMAL'  # before EMAHook (NORMAL) and CheckpointHook (VERY_LOW)

    def __init__(self, max_skipped: int = 10):
        self.max_skipped = max_skipped
        self._skipped = 0

    @staticmethod
    def _terms(outputs) -> Dict[str, float]:
        terms = {}
        for key, value in (outputs or {}).items():
            if 'loss' not in key:
                continue
            if isinstance(value, torch.Tensor):
                value = value.detach().float().mean().item()
            terms[key] = float(value)
        return terms

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        terms = self._terms(outputs)
        bad = [key for key, value in terms.items() if not math.isfinite(value)]
        flag = torch.tensor([1.0 if bad else 0.0])
        if get_world_size() > 1:
            all_reduce(flag, op='max')  # a NaN on one rank reaches every rank through DDP
        if not flag.item():
            self._skipped = 0
            return
        where = _position(runner, batch_idx)
        if (isinstance(runner.optim_wrapper, AmpOptimWrapper)
                and self._skipped + 1 < self.max_skipped
                and not non_finite_tensors(_model(runner))):
            self._skipped += 1
            runner.logger.warning(f'Non-finite loss at {where} under mixed precision: the loss '
                                  f'scaler skipped this step, the weights are unchanged.')
            return
        reports = all_gather_object(terms) if get_world_size() > 1 else [terms]
        raise NonFiniteLossError(
            f'Non-finite loss at {where}: {_describe(reports)}. Training stopped before anything '
            f'of this state was saved. {_kept(runner)} Usual causes: a learning rate too high for '
            f'the batch size, too short a warm-up, no gradient clipping '
            f'(optim_wrapper.clip_grad=dict(max_norm=...)), or a broken sample in this batch.')


def _describe(reports: Sequence[Dict[str, float]]) -> str:

    def terms(values):
        shown = ', '.join(f'{key}={value:.4g}' for key, value in values.items())
        bad = [key for key, value in values.items() if not math.isfinite(value)]
        return f'{shown} (not finite: {", ".join(bad)})'

    if len(reports) == 1:
        return terms(reports[0])
    return '; '.join(f'rank {rank}: {terms(values)}' for rank, values in enumerate(reports)
                     if any(not math.isfinite(v) for v in values.values()))
