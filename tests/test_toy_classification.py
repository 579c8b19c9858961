"""Classification end to end on the built-in toy shapes (mmpretrain CustomDataset folders): train
the toy MogaNet classifier, evaluate it with tools/test.py, and evaluate the same weights saved in
the official release layout (un-prefixed keys, ``head.weight``) with no conversion step."""
import json
import os
import os.path as osp
import subprocess
import sys

import torch

from mmmoga.datasets import make_shape_classification

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs/imagenet_moganet_xt_toy.py')
TOP1_BAR = 60.  # percent; chance is 33.3 (3 balanced classes)
# a shorter schedule than the config's 15 epochs (which reach 100.0 top-1)
EPOCHS = 5


def run(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    result = subprocess.run([sys.executable, *args],
                            cwd=cwd,
                            capture_output=True,
                            text=True,
                            timeout=600,
                            env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def evaluate(checkpoint, cwd):
    out = cwd / f'{osp.basename(checkpoint)}.json'
    result = run([
        osp.join(ROOT, 'tools/test.py'), CONFIG,
        str(checkpoint), '--work-dir',
        str(cwd / 'test_dir'), '--out-json',
        str(out)
    ],
                 cwd=cwd)
    assert 'accuracy/top1' in result.stdout
    return json.loads(out.read_text())['accuracy/top1']


def test_toy_classification_trains_above_chance_and_loads_the_official_layout(tmp_path):
    make_shape_classification(str(tmp_path / 'data/toy/cls'))
    work_dir = tmp_path / 'work_dir'
    run([
        osp.join(ROOT, 'tools/train.py'), CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', f'train_cfg.max_epochs={EPOCHS}',
        f'train_cfg.val_interval={EPOCHS}', f'param_scheduler.1.end={EPOCHS}',
        f'default_hooks.checkpoint.interval={EPOCHS}'
    ],
        cwd=tmp_path)
    checkpoint = work_dir / f'epoch_{EPOCHS}.pth'
    top1 = evaluate(checkpoint, tmp_path)
    assert top1 > TOP1_BAR

    # the same weights as an official MogaNet release: {'state_dict', 'state_dict_ema'}, keys
    # without the backbone. prefix, the classifier as head.{weight,bias}
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    official = {
        (k[len('backbone.'):] if k.startswith('backbone.') else k.replace('head.fc.', 'head.')): v
        for k, v in state.items()
    }
    assert set(official) >= {'patch_embed1.projection.0.weight', 'norm4.weight', 'head.weight'}
    release = tmp_path / 'moganet_xtiny_toy.pth.tar'
    torch.save({'state_dict': official, 'state_dict_ema': official}, release)
    assert evaluate(release, tmp_path) == top1
