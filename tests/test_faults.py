"""Nothing lost when a run dies: atomic, ordered checkpoint writes; a full disk; a non-finite loss.

A tiny linear model trained by mmengine's Runner (about a second per run). A kill inside a save is
simulated by raising a BaseException at the chosen moment (mid-write, written but not pointed at,
pointed at but the old one not yet removed); every case checks that a complete checkpoint remains
and that resuming from it ends exactly like an uninterrupted run. The controls run mmengine's own
CheckpointHook through the same faults and must lose the run. Real SIGKILLs of the toy detector,
1 and 2 processes, are tools/misc/verify_faults.py's job (docs/faults.md).
"""
import errno
import os
import os.path as osp
import signal
import subprocess
import sys
import time
import uuid

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from mmmoga.engine import (AtomicCheckpointHook, NonFiniteLossError, NonFiniteLossHook,
                           NonFiniteWeightsError, fault_tolerance)
from mmmoga.utils import (CorruptCheckpointError, NoSpaceForCheckpointError, atomic_io,
                          atomic_write_bytes, leftover_temp_files, load_checkpoint_file,
                          plain_checkpoint_hook_warning)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ITERS_PER_EPOCH = 3


class Killed(BaseException):
    """Stands in for SIGKILL: nothing catches it, and the run stops where it is raised."""


class Points(Dataset):

    def __init__(self, num=12):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(num, 8, generator=generator)
        self.y = self.x @ torch.linspace(-1, 1, 8) + 0.1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return dict(inputs=self.x[index], targets=self.y[index])


class TinyRegressor(BaseModel):
    """A linear model; ``nan_at`` makes the loss NaN at that (1-based) training iteration."""

    def __init__(self, nan_at=None):
        super().__init__()
        self.fc = nn.Linear(8, 1)
        self.nan_at, self.calls = nan_at, 0

    def forward(self, inputs, targets, mode='tensor'):
        pred = self.fc(inputs).squeeze(1)
        if mode == 'loss':
            self.calls += 1
            loss = F.mse_loss(pred, targets)
            if self.calls == self.nan_at:
                loss = loss * float('nan')
            return dict(loss_mse=loss, loss_l1=F.l1_loss(pred, targets).detach() * 0)
        if mode == 'predict':
            return [float(p) for p in pred]
        return pred


class EpochScore(BaseMetric):
    """A validation score that improves every epoch (for best-checkpoint rotation)."""
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.append(len(data_samples))

    def compute_metrics(self, results):
        EpochScore.calls = getattr(EpochScore, 'calls', 0) + 1
        return dict(score=float(EpochScore.calls))


def build_runner(work_dir,
                 hook='AtomicCheckpointHook',
                 epochs=3,
                 resume=False,
                 nan_at=None,
                 loss_hook=True,
                 save_best=None,
                 extra_hooks=()):
    checkpoint = dict(type=hook, interval=1, max_keep_ckpts=1)
    if save_best:
        checkpoint.update(save_best=save_best, rule='greater')
    default_hooks = dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=100))
    if loss_hook:
        default_hooks['finite_loss'] = dict(type='NonFiniteLossHook')
    torch.manual_seed(0)
    validate = save_best is not None
    return Runner(
        model=TinyRegressor(nan_at),
        work_dir=str(work_dir),
        experiment_name=f'faults_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=Points(),
            batch_size=len(Points()) // ITERS_PER_EPOCH,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        val_dataloader=dict(
            dataset=Points(4),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')) if validate else None,
        val_evaluator=[EpochScore()] if validate else None,
        val_cfg=dict() if validate else None,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=1),
        default_hooks=default_hooks,
        custom_hooks=list(extra_hooks),
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmengine')


def weights(runner):
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def pointed(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


@pytest.fixture(autouse=True)
def quiet_and_scoped():
    init_default_scope('mmengine')
    EpochScore.calls = 0
    yield


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    runner = build_runner(tmp_path_factory.mktemp('reference'))
    runner.train()
    return weights(runner)


class KillDuringSave(Hook):
    """Arms ``trap`` right before the checkpoint of epoch ``epoch`` (1-based) is serialised."""
    priority = 'LOWEST'

    def __init__(self, epoch, trap):
        self.epoch, self.trap = epoch, trap

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['epoch'] == self.epoch:
            self.trap['armed'] = True


def kill_mid_write(monkeypatch, trap, fraction=0.5):
    """While armed, the next file write stops after ``fraction`` of its bytes, as under SIGKILL."""
    write = atomic_io._write

    def write_then_die(fd, chunk):
        if trap.get('armed'):
            trap['armed'] = False
            os.write(fd, chunk[:int(len(chunk) * fraction)])
            raise Killed('killed mid-write')
        return write(fd, chunk)

    monkeypatch.setattr(atomic_io, '_write', write_then_die)


def kill_at_pause(monkeypatch, trap, nth):
    """While armed, die at the ``nth`` step boundary of the save: 1 = written, not yet pointed at;
    2 = pointed at, the old checkpoint not yet removed."""

    def pause():
        if trap.get('armed'):
            trap['pauses'] = trap.get('pauses', 0) + 1
            if trap['pauses'] == nth:
                raise Killed(f'killed at step boundary {nth}')

    monkeypatch.setattr(fault_tolerance, 'fault_pause', pause)


# ------------------------------------------------------------------------------------------------
# the writer


def test_atomic_write_replaces_the_whole_file_with_the_usual_permissions(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'old')
    atomic_write_bytes(b'new contents', str(path))
    assert path.read_bytes() == b'new contents'
    umask = os.umask(0)
    os.umask(umask)
    assert osp.getsize(path) == 12 and (os.stat(path).st_mode & 0o777) == (0o666 & ~umask)
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_disk_full_mid_write_names_folder_and_size_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_2.pth'
    path.write_bytes(b'the previous complete file')
    data = bytes(range(256)) * 4096  # 1 MiB
    written = []

    def full_after_300k(fd, chunk):
        room = 300_000 - sum(written)
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(os.write(fd, chunk[:room]))
        return written[-1]

    monkeypatch.setattr(atomic_io, '_write', full_after_300k)
    with pytest.raises(NoSpaceForCheckpointError) as info:
        atomic_write_bytes(data, str(path), chunk_size=1 << 16)
    message = str(info.value)
    assert str(tmp_path) in message and f'{len(data)} bytes' in message and '1.0 MiB' in message
    assert 'no space left on device' in message and 'epoch_2.pth is unchanged' in message
    assert info.value.needed == len(data) and info.value.folder == str(tmp_path)
    assert sum(written) == 300_000  # it did fail in the middle
    assert path.read_bytes() == b'the previous complete file'
    assert os.listdir(tmp_path) == ['epoch_2.pth']


def test_sigkill_mid_write_leaves_the_old_file_and_a_findable_temp_file(tmp_path):
    """A real SIGKILL of a process writing slowly (MMMOGA_FAULT_SLOW_SAVE) through the writer."""
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'old and complete')
    code = ('import sys; from mmmoga.utils.atomic_io import atomic_write_bytes; '
            'atomic_write_bytes(b"x" * 4_000_000, sys.argv[1])')
    env = dict(os.environ, MMMOGA_FAULT_SLOW_SAVE='30', PYTHONPATH=ROOT)
    process = subprocess.Popen([sys.executable, '-c', code, str(path)], env=env)
    deadline = time.time() + 60
    while not leftover_temp_files(str(tmp_path)) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a few slices are on disk
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    temps = leftover_temp_files(str(tmp_path))
    assert len(temps) == 1 and 0 < osp.getsize(temps[0]) < 4_000_000
    assert path.read_bytes() == b'old and complete'


# ------------------------------------------------------------------------------------------------
# the hook: order of a save, and a kill at each step of it


def record_file_events(monkeypatch):
    events = []
    replace, remove = os.replace, os.remove

    def recording_replace(src, dst):
        replace(src, dst)
        events.append(('complete', osp.basename(dst)))

    def recording_remove(path):
        pointer = osp.join(osp.dirname(path), 'last_checkpoint')
        target = osp.basename(open(pointer).read().strip()) if osp.exists(pointer) else None
        events.append(('remove', osp.basename(path), f'last_checkpoint -> {target}'))
        remove(path)

    def recording_put(self, obj, filepath):  # mmengine's own (non-atomic) write
        LocalBackend_put(self, obj, filepath)
        events.append(('complete', osp.basename(filepath)))

    LocalBackend_put = LocalBackend.put
    monkeypatch.setattr(os, 'replace', recording_replace)
    monkeypatch.setattr(os, 'remove', recording_remove)
    monkeypatch.setattr(LocalBackend, 'put', recording_put)
    return events


def test_save_order_new_checkpoint_then_pointer_then_removal(tmp_path, monkeypatch):
    events = record_file_events(monkeypatch)
    build_runner(tmp_path, epochs=2).train()
    assert events == [
        ('complete', 'epoch_1.pth'),
        ('complete', 'last_checkpoint'),
        ('complete', 'epoch_2.pth'),
        ('complete', 'last_checkpoint'),
        ('remove', 'epoch_1.pth', 'last_checkpoint -> epoch_2.pth'),
    ]


def test_control_mmengine_removes_the_old_checkpoint_before_writing_the_new(tmp_path, monkeypatch):
    events = record_file_events(monkeypatch)
    build_runner(tmp_path, hook='CheckpointHook', epochs=2).train()
    assert events == [
        ('complete', 'epoch_1.pth'),
        ('remove', 'epoch_1.pth', 'last_checkpoint -> epoch_1.pth'),
        ('complete', 'epoch_2.pth'),
    ]


@pytest.mark.parametrize('moment', ['mid-write', 'written', 'pointed'])
def test_killed_during_a_save_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, reference,
                                                                  moment):
    trap = {}
    if moment == 'mid-write':
        kill_mid_write(monkeypatch, trap)
    else:
        kill_at_pause(monkeypatch, trap, nth=1 if moment == 'written' else 2)
    with pytest.raises(Killed):
        build_runner(tmp_path, extra_hooks=[KillDuringSave(2, trap)]).train()
    monkeypatch.undo()

    last = pointed(tmp_path)
    expected = 'epoch_2.pth' if moment == 'pointed' else 'epoch_1.pth'
    assert osp.basename(last) == expected
    assert torch.isfinite(load_checkpoint_file(last)['state_dict']['fc.weight']).all()
    if moment == 'pointed':  # killed before the removal: the resumed run finishes it
        assert osp.exists(tmp_path / 'epoch_1.pth')
    (tmp_path / '.epoch_3.pth.12345.0123abcd.tmp').write_bytes(b'partial write of a killed run')

    resumed = build_runner(tmp_path, resume=True)
    resumed.train()
    for key, value in reference.items():
        torch.testing.assert_close(weights(resumed)[key], value, rtol=0, atol=0)
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == ['epoch_3.pth']
    assert leftover_temp_files(str(tmp_path)) == []


def test_control_mmengine_hook_killed_mid_write_loses_the_run(tmp_path, monkeypatch):
    trap = {}
    put = LocalBackend.put

    def put_then_die(self, obj, filepath):
        if not trap.get('armed'):
            return put(self, obj, filepath)
        with open(filepath, 'wb') as f:
            f.write(obj[:len(obj) // 2])
        raise Killed('killed mid-write')

    monkeypatch.setattr(LocalBackend, 'put', put_then_die)
    with pytest.raises(Killed):
        build_runner(tmp_path, hook='CheckpointHook', extra_hooks=[KillDuringSave(2, trap)]).train()
    # last_checkpoint points at the removed epoch_1.pth; epoch_2.pth is truncated
    assert osp.basename(pointed(tmp_path)) == 'epoch_1.pth' and not osp.exists(pointed(tmp_path))
    with pytest.raises(CorruptCheckpointError):
        load_checkpoint_file(str(tmp_path / 'epoch_2.pth'))


def test_best_checkpoint_replaced_only_once_the_new_one_is_complete(tmp_path, monkeypatch):
    trap = {}
    kill_mid_write(monkeypatch, trap)

    class KillDuringBest(Hook):
        priority = 'LOWEST'

        def before_save_checkpoint(self, runner, checkpoint):
            if 'optimizer' not in checkpoint and checkpoint['meta']['epoch'] == 2:
                trap['armed'] = True  # best checkpoints are saved without the optimizer

    with pytest.raises(Killed):
        build_runner(tmp_path, save_best='toy/score', extra_hooks=[KillDuringBest()]).train()
    best = tmp_path / 'best_toy_score_epoch_1.pth'
    assert load_checkpoint_file(str(best))['meta']['epoch'] == 1
    assert not osp.exists(tmp_path / 'best_toy_score_epoch_2.pth')
    monkeypatch.undo()

    complete = tmp_path / 'complete'
    build_runner(complete, save_best='toy/score').train()
    assert sorted(n for n in os.listdir(complete)
                  if n.endswith('.pth')) == ['best_toy_score_epoch_3.pth', 'epoch_3.pth']


def test_configured_by_name_from_a_task_library_scope():
    init_default_scope('mmdet')
    from mmdet.registry import HOOKS
    hook = HOOKS.build(dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1))
    assert isinstance(hook, AtomicCheckpointHook) and hook.max_keep_ckpts == 1
    assert isinstance(HOOKS.build(dict(type='NonFiniteLossHook')), NonFiniteLossHook)


# ------------------------------------------------------------------------------------------------
# a full disk, a non-finite loss


def test_disk_full_during_a_save_stops_with_folder_and_size_and_keeps_the_last_one(
        tmp_path, monkeypatch):
    trap = {}

    def full_disk(fd, chunk):
        if trap.get('armed'):
            os.write(fd, chunk[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, chunk)

    monkeypatch.setattr(atomic_io, '_write', full_disk)
    with pytest.raises(NoSpaceForCheckpointError) as info:
        build_runner(tmp_path, extra_hooks=[KillDuringSave(2, trap)]).train()
    message = str(info.value)
    size = info.value.needed
    assert size > 1000 and f'It needs {atomic_io.format_bytes(size)} ({size} bytes)' in message
    assert f'Cannot write epoch_2.pth in {tmp_path}: no space left on device' in message
    assert f'previous checkpoint {tmp_path / "epoch_1.pth"} is intact' in message
    assert osp.basename(pointed(tmp_path)) == 'epoch_1.pth'
    assert load_checkpoint_file(pointed(tmp_path))['meta']['epoch'] == 1
    assert leftover_temp_files(str(tmp_path)) == [] and not osp.exists(tmp_path / 'epoch_2.pth')


def test_non_finite_loss_stops_the_run_before_anything_is_saved(tmp_path):
    runner = build_runner(tmp_path, nan_at=ITERS_PER_EPOCH + 2)  # epoch 2, batch 2
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    message = str(info.value)
    assert message.startswith('Non-finite loss at iteration 5 (epoch 2, batch 2 of 3): ')
    assert 'loss_mse=nan' in message and 'loss_l1=0' in message
    assert '(not finite: loss, loss_mse)' in message
    assert f'{tmp_path / "epoch_1.pth"}, is unchanged' in message
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == ['epoch_1.pth']
    assert torch.isfinite(load_checkpoint_file(pointed(tmp_path))['state_dict']['fc.weight']).all()


def test_non_finite_weights_are_never_saved_even_without_the_loss_hook(tmp_path):
    with pytest.raises(NonFiniteWeightsError) as info:
        build_runner(tmp_path, nan_at=ITERS_PER_EPOCH + 2, loss_hook=False).train()
    assert 'Refusing to write epoch_2.pth' in str(info.value)
    assert 'fc.weight, fc.bias' in str(info.value)
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == ['epoch_1.pth']


def test_control_mmengine_alone_replaces_the_good_checkpoint_with_nan_weights(tmp_path):
    build_runner(
        tmp_path, hook='CheckpointHook', nan_at=ITERS_PER_EPOCH + 2, loss_hook=False).train()
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.pth')) == ['epoch_3.pth']
    saved = load_checkpoint_file(pointed(tmp_path))['state_dict']['fc.weight']
    assert not torch.isfinite(saved).any()


def test_slow_save_env_must_be_a_number(monkeypatch):
    monkeypatch.setenv(atomic_io.SLOW_SAVE_ENV, 'fast')
    with pytest.raises(ValueError, match='MMMOGA_FAULT_SLOW_SAVE=.fast. is not a number'):
        atomic_io.slow_save_seconds()


def test_train_warns_about_mmengines_plain_checkpoint_hook():
    plain = Config(
        dict(default_hooks=dict(checkpoint=dict(type='CheckpointHook', max_keep_ckpts=1))))
    assert 'with max_keep_ckpts=1 a kill during that write can leave no complete checkpoint' in (
        plain_checkpoint_hook_warning(plain))
    ours = Config(dict(default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook'))))
    assert plain_checkpoint_hook_warning(ours) is None
