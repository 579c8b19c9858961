"""A tiny training job for the resume and preemption tests: a MogaNet classifier on random images
with every kind of random draw that makes an exact resume non-trivial (drop path, numpy noise and a
python-random flip per sample, a validation whose model and metric draw from all three RNGs)."""
import os
import random
import socket
import uuid

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.runner import Runner
from small_models import ARCHS
from torch import nn
from torch.utils.data import Dataset

from mmmoga.models import MogaNet

SMALL_ARCH = ARCHS['moganet']['tiny']
CHECKPOINT_AT = 4  # iteration-based runs: checkpoint and validation every 4 iterations


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


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run ~100x faster on one thread than on two contended ones (autouse in the
    modules that import it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_runner(work_dir,
                 loop='epoch',
                 resume=False,
                 custom_hooks=(),
                 load_from=None,
                 distributed=False,
                 checkpoint_type='CheckpointHook',
                 extra_default_hooks=None,
                 dataset_size=24,
                 batch_size=4,
                 max_keep_ckpts=-1,
                 ema=False,
                 num_workers=0):
    """The tiny job: 3 epochs of 6 batches validated every epoch (``loop='epoch'``), or
    ``3 * CHECKPOINT_AT`` iterations validated and saved every CHECKPOINT_AT (``'iter'``)."""
    if loop == 'epoch':  # detection / pose / classification style: validate every epoch
        train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=1)
        sampler = dict(type='DefaultSampler', shuffle=True)
        checkpoint = dict(type=checkpoint_type, interval=1, max_keep_ckpts=max_keep_ckpts)
        scheduler = dict(type='CosineAnnealingLR', T_max=3, by_epoch=True)
    else:  # segmentation 160K style, shortened: validate and save every CHECKPOINT_AT iterations
        train_cfg = dict(by_epoch=False, max_iters=3 * CHECKPOINT_AT, val_interval=CHECKPOINT_AT)
        sampler = dict(type='InfiniteSampler', shuffle=True)
        checkpoint = dict(
            type=checkpoint_type,
            by_epoch=False,
            interval=CHECKPOINT_AT,
            max_keep_ckpts=max_keep_ckpts)
        scheduler = dict(type='CosineAnnealingLR', T_max=3 * CHECKPOINT_AT, by_epoch=False)
    hooks = list(custom_hooks)
    if ema:
        hooks.append(dict(type='EMAHook', momentum=0.2, priority='ABOVE_NORMAL'))
    torch.manual_seed(0)  # the model is built here, before the Runner seeds
    return Runner(
        model=TinyClassifier(),
        work_dir=str(work_dir),
        experiment_name=f'tiny_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=NoisyShapes(dataset_size),
            batch_size=batch_size,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
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
        default_hooks=dict(
            checkpoint=checkpoint,
            logger=dict(type='LoggerHook', interval=100),
            **(extra_default_hooks or {})),
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


def weights(runner):
    """A copy of the (unwrapped) model's state dict."""
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def differs(a, b):
    return any(not torch.equal(a[key], b[key]) for key in a)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def join_two_process_group(rank, port):
    """In an ``mp.spawn`` worker: the gloo group of 2 CPU processes, one thread each."""
    os.environ.update(
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE='2',
        OMP_NUM_THREADS='1')
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=2)
