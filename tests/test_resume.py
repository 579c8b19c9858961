"""A run killed after a checkpoint and resumed ends bit-identical to an uninterrupted run.

Tiny models on random data, with the random draws that make the property non-trivial: drop path and
a python/numpy augmentation in training, and a validation pass (every epoch, or every N iterations)
whose dataset, model and metric draw from all three RNGs, as detection/segmentation validation
does. Each property has its control: switched off, the resumed run must differ.
"""
import logging
import os

import pytest
import tiny_training
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.hooks import Hook
from tiny_training import one_thread  # noqa: F401  (an autouse fixture)
from tiny_training import (CHECKPOINT_AT, assert_identical, differs, free_port,
                           join_two_process_group, weights)

from mmmoga.engine import RandomStateHook
from mmmoga.engine import hooks as rng_hooks
from mmmoga.engine.hooks import set_rng_state


class KillAfterFirstCheckpoint(Hook):
    """Stops training right after the CheckpointHook (VERY_LOW) wrote the first checkpoint."""
    priority = 'LOWEST'

    def after_train_epoch(self, runner):
        if not hasattr(runner.train_loop, 'dataloader_iterator') and runner.epoch == 0:
            raise KeyboardInterrupt('killed after epoch_1.pth')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if hasattr(runner.train_loop, 'dataloader_iterator') and runner.iter + 1 == CHECKPOINT_AT:
            raise KeyboardInterrupt(f'killed after iter_{CHECKPOINT_AT}.pth')


class RecordRandomState(Hook):
    """Records what the first training epoch draws from, after every other hook ran."""
    priority = 'LOWEST'

    def __init__(self, record):
        self.record = record

    def before_train_epoch(self, runner):
        self.record.append(torch.get_rng_state().clone())


def build_runner(work_dir, kill=False, rng_hook=True, extra_hooks=(), **kwargs):
    hooks = ([dict(type='RandomStateHook')] if rng_hook else
             []) + ([KillAfterFirstCheckpoint()] if kill else []) + list(extra_hooks)
    return tiny_training.build_runner(work_dir, custom_hooks=hooks, **kwargs)


def train(work_dir, kill=False, **kwargs):
    runner = build_runner(work_dir, kill=kill, **kwargs)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    runner.logger.addHandler(handler)
    if kill:
        with pytest.raises(KeyboardInterrupt):
            runner.train()
    else:
        runner.train()
    runner.logger.removeHandler(handler)
    return weights(runner), messages


def killed_and_resumed(work_dir, **kwargs):
    train(work_dir, kill=True, **kwargs)
    return train(work_dir, resume=True, **kwargs)[0]


@pytest.mark.parametrize('loop', ['epoch', 'iter'])
def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path, loop):
    reference, _ = train(tmp_path / 'reference', loop=loop)
    assert_identical(killed_and_resumed(tmp_path / 'killed', loop=loop), reference)


def test_control_without_the_hook_the_resumed_run_differs(tmp_path):
    """mmengine alone re-seeds on resume: drop path and augmentation draw other numbers."""
    reference, _ = train(tmp_path / 'reference', rng_hook=False)
    assert differs(killed_and_resumed(tmp_path / 'killed', rng_hook=False), reference)


def test_control_validation_not_forked_the_resumed_run_differs(tmp_path, monkeypatch):
    """The states gathered for the checkpoint are the ones before validation; an uninterrupted run
    trains on after validation's draws unless validation runs on a fork of the RNG streams."""
    monkeypatch.setattr(RandomStateHook, 'before_val', lambda self, runner: None)
    monkeypatch.setattr(RandomStateHook, 'after_val', lambda self, runner: None)
    reference, _ = train(tmp_path / 'reference')
    assert differs(killed_and_resumed(tmp_path / 'killed'), reference)


def test_control_restored_before_the_skip_the_resumed_run_differs(tmp_path, monkeypatch):
    """An iteration-based resume fetches the trained batches again to skip them, which runs the
    augmentations: states restored before that skip are used up by the time training goes on."""

    def restore_now(self, runner):
        if self._resume is not None:
            set_rng_state(self._resume['rng'])
            self._resume = None

    monkeypatch.setattr(RandomStateHook, 'before_train_epoch', restore_now)
    reference, _ = train(tmp_path / 'reference', loop='iter')
    assert differs(killed_and_resumed(tmp_path / 'killed', loop='iter'), reference)


def test_load_from_does_not_restore_rng_states(tmp_path):
    train(tmp_path / 'first', kill=True)
    checkpoint = str(tmp_path / 'first' / 'epoch_1.pth')
    fresh, loaded = [], []
    train(tmp_path / 'fresh', extra_hooks=[RecordRandomState(fresh)], kill=True)
    _, messages = train(
        tmp_path / 'finetune',
        load_from=checkpoint,
        kill=True,
        extra_hooks=[RecordRandomState(loaded)])
    # the fine-tuning run draws what randomness.seed gives, not what the checkpoint holds
    assert torch.equal(loaded[0], fresh[0])
    assert any('RNG states in the checkpoint are not restored' in m for m in messages)


def test_resume_without_rng_states_warns(tmp_path):
    train(tmp_path, kill=True, rng_hook=False)
    _, messages = train(tmp_path, resume=True)
    assert any('holds no RNG states' in m for m in messages)


def _two_process_worker(rank, work_dir, port, loop):
    join_two_process_group(rank, port)
    reference, _ = train(os.path.join(work_dir, 'reference'), loop=loop, distributed=True)
    resumed = killed_and_resumed(os.path.join(work_dir, 'killed'), loop=loop, distributed=True)
    # the control: rank 1's BN statistics are not in the checkpoint's state_dict (rank 0's model)
    rng_hooks.set_buffers = lambda model, buffers: None
    no_buffers = killed_and_resumed(os.path.join(work_dir, 'control'), loop=loop, distributed=True)
    torch.save(
        dict(reference=reference, resumed=resumed, no_buffers=no_buffers),
        os.path.join(work_dir, f'rank{rank}.pth'))
    dist.destroy_process_group()


@pytest.fixture(scope='module')
def two_process_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('two_processes')
    mp.spawn(_two_process_worker, args=(str(work_dir), free_port(), 'epoch'), nprocs=2)
    return work_dir


def test_two_processes_killed_and_resumed_equals_uninterrupted(two_process_run):
    ranks = [
        torch.load(two_process_run / f'rank{rank}.pth', weights_only=True) for rank in range(2)
    ]
    for rank in ranks:
        assert_identical(rank['resumed'], rank['reference'])
    # BN statistics differ between the ranks (each normalises its own batches), so rank 1's come
    # from the checkpoint's rank_buffers: without them, rank 1 would resume with rank 0's
    assert differs(ranks[0]['reference'], ranks[1]['reference'])
    assert_identical(ranks[0]['no_buffers'], ranks[0]['reference'])
    assert differs(ranks[1]['no_buffers'], ranks[1]['reference'])


def test_world_size_change_on_resume_warns_and_continues(two_process_run, tmp_path):
    # resume the 2-process checkpoint in one process: warned, not restored, trained to the end
    checkpoint = str(two_process_run / 'killed' / 'epoch_1.pth')
    weights, messages = train(tmp_path, resume=True, load_from=checkpoint)
    assert any('RNG states of 2 processes but 1 are running' in m for m in messages)
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
