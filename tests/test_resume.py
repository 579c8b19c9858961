"""Resume on torch >= 2.6 (weights_only loading) and bit-exact continuation after a kill."""
import uuid

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from mmmoga.models import MogaNet

SMALL_ARCH = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1], ffn_ratios=[2, 2, 2, 2])


class NoisyShapes(Dataset):
    """Fixed images; numpy noise is drawn per access, so augmentation randomness matters."""

    def __init__(self, num=24):
        generator = torch.Generator().manual_seed(0)
        self.images = torch.randn(num, 3, 32, 32, generator=generator)
        self.labels = torch.arange(num) % 3

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        noise = torch.from_numpy(np.random.normal(0, 0.1, (3, 32, 32)).astype(np.float32))
        return dict(inputs=self.images[index] + noise, labels=self.labels[index])


class TinyClassifier(BaseModel):

    def __init__(self):
        super().__init__()
        self.backbone = MogaNet(SMALL_ARCH, out_indices=(3, ), drop_path_rate=0.3)
        self.head = nn.Linear(32, 3)

    def forward(self, inputs, labels, mode='tensor'):
        logits = self.head(self.backbone(inputs)[0].mean((2, 3)))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        return logits


class KillAfterFirstEpoch(Hook):
    priority = 'LOWEST'  # after the CheckpointHook has saved epoch_1.pth

    def after_train_epoch(self, runner):
        if runner.epoch == 0:
            raise KeyboardInterrupt('killed after the first checkpoint')


def train(work_dir, resume=False, kill=False, rng_hook=True):
    hooks = ([dict(type='RandomStateHook')] if rng_hook else []) + (
        [KillAfterFirstEpoch()] if kill else [])
    torch.manual_seed(0)  # the model is built here, before the Runner seeds
    runner = Runner(
        model=TinyClassifier(),
        work_dir=str(work_dir),
        experiment_name=f'resume_{uuid.uuid4().hex}',
        train_dataloader=dict(dataset=NoisyShapes(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        param_scheduler=dict(type='CosineAnnealingLR', T_max=3, by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=hooks,
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmengine')
    if kill:
        with pytest.raises(KeyboardInterrupt):
            runner.train()
    else:
        runner.train()
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def test_runner_checkpoint_loads_with_weights_only(tmp_path):
    train(tmp_path, kill=True)
    # HistoryBuffer and numpy arrays in the message hub are allow-listed by `import mmmoga`
    checkpoint = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert {'meta', 'state_dict', 'message_hub', 'optimizer', 'rng_states'} <= set(checkpoint)


def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path):
    reference = train(tmp_path / 'reference')
    train(tmp_path / 'killed', kill=True)
    resumed = train(tmp_path / 'killed', resume=True)
    for key, value in reference.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0, msg=key)


def test_without_rng_states_the_resumed_run_differs(tmp_path):
    """The control for the test above: mmengine alone re-seeds on resume, so drop path and the
    augmentation noise draw other numbers and the weights end up different."""
    reference = train(tmp_path / 'reference', rng_hook=False)
    train(tmp_path / 'killed', kill=True, rng_hook=False)
    resumed = train(tmp_path / 'killed', resume=True, rng_hook=False)
    assert not torch.equal(resumed['head.weight'], reference['head.weight'])
