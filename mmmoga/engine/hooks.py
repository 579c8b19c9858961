import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import CheckpointHook, Hook

from mmmoga.registry import register_hook


@register_hook()
class RandomStateHook(Hook):
    """Save every rank's python/numpy/torch RNG state in checkpoints and restore it on resume.

    mmengine only re-seeds on resume, so a resumed run draws different random numbers (RPN/RoI
    sampling, augmentation, drop path) than an uninterrupted one. With this hook and
    ``num_workers=0`` (or non-persistent workers), a run killed after a checkpoint and resumed ends
    with the same weights and metrics as the uninterrupted run with the same seed.

    Checkpoints are written by rank 0 only, so the states of all ranks are gathered (a collective
    every rank takes part in) right before the :class:`CheckpointHook` saves, and rank 0 stores them.
    """
    priority = 'LOW'  # before CheckpointHook (VERY_LOW) in the same stage

    def __init__(self):
        self._gathered: Optional[List[dict]] = None

    @staticmethod
    def _state() -> dict:
        state = dict(python=random.getstate(), numpy=np.random.get_state(),
                     torch=torch.get_rng_state())
        if torch.cuda.is_available():
            state['cuda'] = torch.cuda.get_rng_state()
        return state

    def _gather(self) -> None:
        self._gathered = all_gather_object(self._state())

    def after_train_epoch(self, runner) -> None:
        self._gather()  # epoch-based checkpoints are saved after this, in the same stage

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        for hook in runner.hooks:  # iteration-based checkpoints: gather when one will be saved
            if isinstance(hook, CheckpointHook) and not hook.by_epoch and (
                    self.every_n_train_iters(runner, hook.interval)
                    or (hook.save_last and self.is_last_train_iter(runner))):
                self._gather()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # runs on rank 0 only: no collective here
        checkpoint['rng_states'] = self._gathered or [self._state()]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get('rng_states')
        if not states:
            runner.logger.warning('The checkpoint holds no RNG states; the resumed run will draw '
                                  'different random numbers than an uninterrupted one.')
            return
        if len(states) != get_world_size():
            runner.logger.warning(f'The checkpoint holds RNG states of {len(states)} processes but '
                                  f'{get_world_size()} are running; RNG states not restored.')
            return
        state = states[get_rank()]
        random.setstate(state['python'])
        np.random.set_state(state['numpy'])
        torch.set_rng_state(state['torch'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state['cuda'])
