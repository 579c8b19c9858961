"""The headline path on a few toy images: train -> checkpoint -> evaluate, single and 2-process."""
import os
import os.path as osp
import random
import signal
import subprocess

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from tool_scripts import cfg_options, toy_data_options

from mmmoga.datasets import make_coco_instances

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_CONFIG = osp.join(ROOT, 'configs/mask_rcnn_moganet_xt_toy.py')
TOY_HORFPN_CONFIG = osp.join(ROOT, 'configs/mask_rcnn_moganet_xt_horfpn_gf_toy.py')


@pytest.fixture(scope='module')
def toy_coco(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy_coco')
    make_coco_instances(str(root), num_train=8, num_val=4)
    return str(root)


def toy_options(data_root):
    return {
        **toy_data_options(data_root),
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 1,
    }


@pytest.mark.parametrize('config', [TOY_CONFIG, TOY_HORFPN_CONFIG], ids=['fpn', 'horfpn_gf'])
def test_toy_mask_rcnn_trains_and_evaluates(toy_coco, tmp_path, config):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(toy_options(toy_coco))
    cfg.work_dir = str(tmp_path)
    cfg.custom_hooks = [dict(type='RandomStateHook')]
    runner = Runner.from_cfg(cfg)
    runner.train()
    if config == TOY_HORFPN_CONFIG:
        assert type(runner.model.neck).__name__ == 'HorFPN'
    metrics = runner.val_loop.run()
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics)
    assert osp.isfile(osp.join(tmp_path, 'epoch_2.pth'))


def test_dist_train_two_cpu_processes_then_resume(toy_coco, tmp_path):
    options = cfg_options(toy_options(toy_coco))
    env = dict(os.environ, PORT=str(random.randint(20000, 40000)), OMP_NUM_THREADS='1')
    command = [
        'bash',
        osp.join(ROOT, 'tools/dist_train.sh'), TOY_CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', *options
    ]
    returncode, output = run_group(command, env)
    assert returncode == 0, output[-3000:]
    assert osp.isfile(osp.join(tmp_path, 'epoch_2.pth'))
    log = open(sorted(glob_logs(tmp_path))[-1]).read()
    assert 'Distributed training: True' in log and 'GPU number: 2' in log  # 2 processes
    assert "type='CPUDistributedDataParallel'" in log
    assert 'coco/bbox_mAP' in log

    # resume the 2-process run from its first checkpoint and finish it again
    os.remove(osp.join(tmp_path, 'epoch_2.pth'))
    with open(osp.join(tmp_path, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(tmp_path, 'epoch_1.pth'))
    env['PORT'] = str(int(env['PORT']) + 1)
    returncode, output = run_group(command + ['--resume'], env)
    assert returncode == 0, output[-3000:]
    assert 'resumed epoch: 1, iter: 1' in output  # 8 images / (2 processes x batch 4) = 1 iter
    assert osp.isfile(osp.join(tmp_path, 'epoch_2.pth'))


def run_group(command, env, timeout=600):
    """Run a launcher and, on timeout, kill all its worker processes too."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f'{command[:3]} timed out after {timeout} s:\n{output[-3000:]}')
    return process.returncode, output


def glob_logs(work_dir):
    for dirpath, _, files in os.walk(work_dir):
        for name in files:
            if name.endswith('.log'):
                yield osp.join(dirpath, name)
