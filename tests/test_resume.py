"""A run killed after a checkpoint and resumed ends bit-identical to an uninterrupted run.

Tiny models on random data, with the random draws that make the property non-trivial: drop path and
a python/numpy augmentation in training, and a validation pass (every epoch, or every N iterations)
whose dataset, model and metric draw from all three RNGs, as detection/segmentation validation
does. Each property has its control: switched off, the resumed run must differ.
"""
import logging
import os
import random
import socket
import uuid

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from mmmoga.engine import RandomStateHook
from mmmoga.engine import hooks as rng_hooks
from mmmoga.engine.hooks import set_rng_state
from mmmoga.models import MogaNet

SMALL_ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1], ffn_ratios=[2, 2, 2, 2])
CHECKPOINT_AT = 4  # iteration-based runs: checkpoint and validation every 4 iterations


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run ~100x faster on one thread than on two contended ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class NoisyShapes(Dataset):
    """Fixed images; numpy noise and a python-random flip are drawn per access."""

    def __init__(self, num=24):
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(num, 3, 32, 32, generator=generator)
        self.labels = torch.arange(num) % 3

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        noise = torch.from_numpy(np.random.normal(0, 0.1, (3, 32, 32)).astype(np.float32))
        image = self.images[index] + noise
        if random.random() < 0.5:
            image = image.flip(-1)
        return dict(inputs=image, labels=self.labels[index])


class TinyClassifier(BaseModel):

    def __init__(self):
        super().__init__()
        self.backbone = MogaNet(SMALL_ARCH, out_indices=(3, ), drop_path_rate=0.3)
        self.head = nn.Linear(32, 3)

    def forward(self, inputs, labels, mode='tensor'):
        logits = self.head(self.backbone(inputs)[0].mean((2, 3)))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        if mode == 'predict':  # draws like test-time proposal sampling would
            logits = logits + 1e-3 * torch.rand_like(logits)[torch.randperm(len(logits))]
            return list(zip(logits.argmax(1).tolist(), labels.tolist()))
        return logits


class NoisyAccuracy(BaseMetric):
    """Accuracy; it also draws from numpy and python's RNG, as some metrics do."""
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        np.random.rand()
        random.random()
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        return dict(accuracy=float(np.mean([pred == label for pred, label in results])))


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


def build_runner(work_dir,
                 loop='epoch',
                 resume=False,
                 kill=False,
                 rng_hook=True,
                 load_from=None,
                 extra_hooks=(),
                 distributed=False):
    hooks = ([dict(type='RandomStateHook')] if rng_hook else
             []) + ([KillAfterFirstCheckpoint()] if kill else []) + list(extra_hooks)
    if loop == 'epoch':  # detection / pose / classification style: validate every epoch
        train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=1)
        sampler = dict(type='DefaultSampler', shuffle=True)
        checkpoint = dict(type='CheckpointHook', interval=1)
        scheduler = dict(type='CosineAnnealingLR', T_max=3, by_epoch=True)
    else:  # segmentation 160K style, shortened: validate and save every CHECKPOINT_AT iterations
        train_cfg = dict(by_epoch=False, max_iters=3 * CHECKPOINT_AT, val_interval=CHECKPOINT_AT)
        sampler = dict(type='InfiniteSampler', shuffle=True)
        checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=CHECKPOINT_AT)
        scheduler = dict(type='CosineAnnealingLR', T_max=3 * CHECKPOINT_AT, by_epoch=False)
    torch.manual_seed(0)  # the model is built here, before the Runner seeds
    return Runner(
        model=TinyClassifier(),
        work_dir=str(work_dir),
        experiment_name=f'resume_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=NoisyShapes(),
            batch_size=4,
            num_workers=0,
            sampler=sampler,
            collate_fn=dict(type='default_collate')),
        val_dataloader=dict(
            dataset=NoisyShapes(8),
            batch_size=4,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        val_evaluator=[NoisyAccuracy()],
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        param_scheduler=scheduler,
        train_cfg=train_cfg,
        default_hooks=dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=hooks,
        randomness=dict(seed=0),
        resume=resume,
        load_from=load_from,
        launcher='pytorch' if distributed else 'none',
        cfg=dict(
            model_wrapper_cfg=dict(type='CPUDistributedDataParallel', broadcast_buffers=False))
        if distributed else None,
        log_processor=dict(by_epoch=loop == 'epoch'),
        default_scope='mmengine')


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
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, messages


def killed_and_resumed(work_dir, **kwargs):
    train(work_dir, kill=True, **kwargs)
    return train(work_dir, resume=True, **kwargs)[0]


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def differs(a, b):
    return any(not torch.equal(a[key], b[key]) for key in a)


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


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _two_process_worker(rank, work_dir, port, loop):
    os.environ.update(
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE='2',
        OMP_NUM_THREADS='1')
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=2)
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
    for weights in ranks:
        assert_identical(weights['resumed'], weights['reference'])
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
