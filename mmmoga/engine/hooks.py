import random
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from mmmoga.registry import register_hook


def get_rng_state() -> dict:
    """The python, numpy and torch (and CUDA, where there is one) RNG states of this process."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    """Restore the states returned by :func:`get_rng_state`."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


def _model(runner) -> torch.nn.Module:
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def get_buffers(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The persistent buffers (BN running statistics, ...) of ``model``, on the CPU."""
    names = {name for name, _ in model.named_buffers()}
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if k in names}


def set_buffers(model: torch.nn.Module, buffers: Dict[str, torch.Tensor]) -> None:
    """Copy ``buffers`` (from :func:`get_buffers`) into the model's own buffers."""
    state = model.state_dict()
    for key, value in buffers.items():
        if key in state and state[key].shape == value.shape:
            state[key].copy_(value)


class _RestoreBeforeFirstBatch:
    """Stands in for ``IterBasedTrainLoop.dataloader_iterator`` on resume.

    mmengine positions the data of a resumed iteration-based run by fetching (and dropping) the
    batches already trained, which runs the data pipeline and its random augmentations. This
    iterator lets those ``skip`` fetches through, restores the RNG states right before the first
    batch that is trained, and gives the loop its own iterator back.
    """

    def __init__(self, loop, skip: int, restore: Callable[[], None]):
        self._loop, self._skip, self._restore = loop, skip, restore
        self._iterator: Iterator = loop.dataloader_iterator

    def __iter__(self):
        return self

    def __next__(self):
        if self._skip > 0:
            self._skip -= 1
            return next(self._iterator)
        self._restore()
        self._loop.dataloader_iterator = self._iterator
        return next(self._iterator)


@register_hook()
class RandomStateHook(Hook):
    """Make a run killed after a checkpoint and resumed draw exactly the random numbers (RPN/RoI
    sampling, augmentation, drop path) of an uninterrupted run with the same seed, and end with the
    same weights and metrics, on one process or several.

    mmengine only re-seeds on resume, and its checkpoints hold rank 0's model only. This hook:

    * runs validation on a fork of the RNG streams (states saved in ``before_val``, restored in
      ``after_val``), so validation never shifts the training stream: its dataloader draws a seed
      from torch's RNG on every pass, and models, metrics and visualizers may draw more. The state
      stored with a checkpoint is therefore the one the next training iteration draws from,
      whether or not validation runs in between.
    * gathers every rank's python/numpy/torch(/CUDA) states, and the persistent buffers of the
      other ranks (BN running statistics differ per rank unless SyncBN or ``broadcast_buffers``
      keep them equal; each rank validates its share of the data with its own), in a collective
      all ranks take part in right before a :class:`~mmengine.hooks.CheckpointHook` saves; rank 0
      stores them under ``rng_states`` and ``rank_buffers``.
    * on ``resume`` (never on ``load_from``: fine-tuning starts from ``randomness.seed``)
      restores each rank's states right before the first trained batch is fetched: at
      ``before_train_epoch``, or, for an iteration-based loop that fetches the trained batches to
      skip them (no :class:`~mmmoga.engine.PreemptionHook`, which skips them without loading),
      after that skip. A different number of processes warns and continues unrestored.

    Data loading must draw in the training process (``num_workers=0``) or in non-persistent
    workers (mmengine re-seeds those every epoch) for the resumed data to match.
    """
    priority = 'LOW'  # before CheckpointHook (VERY_LOW) in the same stage

    def __init__(self):
        self._gathered: Optional[List[dict]] = None
        self._resume: Optional[dict] = None
        self._before_val: Optional[dict] = None

    def gather_states(self, runner) -> None:
        """Collective: gather every rank's RNG states (the training stream's, also during
        validation) and buffers for the next checkpoint rank 0 saves."""
        local = dict(rng=self._before_val or get_rng_state())
        if get_rank() > 0:  # rank 0's buffers are in the checkpoint's state_dict
            local['buffers'] = get_buffers(_model(runner))
        self._gathered = all_gather_object(local)

    @staticmethod
    def _checkpoint_hooks(runner) -> List[CheckpointHook]:
        return [hook for hook in runner.hooks if isinstance(hook, CheckpointHook)]

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        for hook in self._checkpoint_hooks(runner):  # iteration-based checkpoints
            if not hook.by_epoch and (self.every_n_train_iters(runner, hook.interval,
                                                               hook.save_begin) or
                                      (hook.save_last and self.is_last_train_iter(runner))):
                self.gather_states(runner)
                return

    def after_train_epoch(self, runner) -> None:
        self.gather_states(runner)  # epoch checkpoints are saved after this, in the same stage

    def before_val(self, runner) -> None:
        self._before_val = get_rng_state()
        if any(hook.save_best for hook in self._checkpoint_hooks(runner)):
            self.gather_states(runner)  # best checkpoints are saved during validation

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_state(self._before_val)
            self._before_val = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # runs on rank 0 only: no collective here
        gathered = self._gathered or [dict(rng=get_rng_state())]
        checkpoint['rng_states'] = [rank['rng'] for rank in gathered]
        if len(gathered) > 1:
            checkpoint['rank_buffers'] = [rank.get('buffers') for rank in gathered]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            if checkpoint.get('rng_states'):
                runner.logger.info('load_from: the RNG states in the checkpoint are not restored '
                                   '(only a resumed run continues them); randomness.seed rules.')
            return
        states = checkpoint.get('rng_states')
        if not states:
            runner.logger.warning('The checkpoint holds no RNG states (saved without '
                                  'RandomStateHook); the resumed run will draw different random '
                                  'numbers than an uninterrupted one.')
        elif len(states) != get_world_size():
            runner.logger.warning(
                f'The checkpoint holds the RNG states of {len(states)} processes but '
                f'{get_world_size()} are running; RNG states not restored, the resumed run '
                f'continues with freshly seeded random numbers.')
        else:
            buffers = checkpoint.get('rank_buffers') or [None] * len(states)
            self._resume = dict(rng=states[get_rank()], buffers=buffers[get_rank()])

    def restore(self, runner) -> None:
        """Restore the resumed checkpoint's RNG states and buffers of this rank now (once)."""
        if self._resume is None:
            return
        state, self._resume = self._resume, None
        if state['buffers']:  # the model holds rank 0's by now
            set_buffers(_model(runner), state['buffers'])
        set_rng_state(state['rng'])

    def before_train_epoch(self, runner) -> None:
        if self._resume is None:
            return
        loop = runner.train_loop
        free = any(getattr(hook, 'skips_without_loading', False) for hook in runner.hooks)
        if hasattr(loop, 'dataloader_iterator') and not free:
            # IterBasedTrainLoop fetches the runner.iter trained batches to skip them
            state, self._resume = self._resume, None
            if state['buffers']:
                set_buffers(_model(runner), state['buffers'])
            loop.dataloader_iterator = _RestoreBeforeFirstBatch(loop, runner.iter,
                                                                lambda: set_rng_state(state['rng']))
            return
        if (isinstance(loop, EpochBasedTrainLoop) and 'run_epoch' not in vars(loop)
                and runner.iter != runner.epoch * len(loop.dataloader)):
            runner.logger.warning(
                f'Resumed at iteration {runner.iter}, inside epoch {runner.epoch + 1}: the '
                f'epoch-based loop trains this epoch again from its start, so the run cannot '
                f'continue exactly like an uninterrupted one. Add PreemptionHook to the config '
                f'(it continues the epoch), or resume from an epoch checkpoint.')
        self.restore(runner)
