"""The toy ADE20K job as a user runs it: tools/train.py, then tools/test.py (single scale and
--tta) beats the majority-class baseline; and a config taken from mmseg itself, with one of our
backbones swapped in, trains and evaluates on the same data."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import mmcv
import numpy as np
import pytest
from tool_scripts import cfg_options, toy_data_options

from mmmoga.datasets import make_ade20k

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_CONFIG = osp.join(ROOT, 'configs/semfpn_moganet_xt_toy.py')
NUM_CLASSES = 4


@pytest.fixture(scope='module')
def toy_ade20k(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy_ade20k'))
    make_ade20k(root)  # the dataset tools/misc/make_toy_data.py writes (120 train, 30 val)
    return root


def majority_class_baseline(data_root):
    """mIoU / mAcc / aAcc (in %) of predicting the most frequent class on every valid pixel of
    the val labels (after reduce_zero_label: 0 -> ignored, k -> k - 1)."""
    counts = np.zeros(NUM_CLASSES, np.int64)
    for path in glob.glob(osp.join(data_root, 'annotations/validation/*.png')):
        label = mmcv.imread(path, flag='unchanged').astype(np.int64) - 1
        counts += np.bincount(label[label >= 0], minlength=NUM_CLASSES)
    present = counts > 0
    majority_share = counts.max() / counts.sum()
    # IoU of the majority class = its share, every other present class 0 (NaN classes dropped)
    return dict(
        mIoU=100 * majority_share / present.sum(),
        mAcc=100 / present.sum(),
        aAcc=100 * majority_share)


def data_options(data_root):
    return cfg_options(toy_data_options(data_root, coco=False))


def run(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    result = subprocess.run([sys.executable, *args],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            **kwargs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_majority_baseline_of_the_toy_val_set(toy_ade20k):
    base = majority_class_baseline(toy_ade20k)
    # background dominates: about three quarters of the pixels, so mIoU ~ 19%, mAcc 25%
    assert 60 < base['aAcc'] < 90 and base['mAcc'] == 25
    assert base['mIoU'] == pytest.approx(base['aAcc'] / 4)


def test_toy_semfpn_train_test_tta_beats_the_majority_class(toy_ade20k, tmp_path):
    iters = 100  # the config trains 200; half of it already clears the baseline
    work_dir = str(tmp_path / 'work')
    run('tools/train.py', TOY_CONFIG, '--work-dir', work_dir, '--cfg-options',
        *data_options(toy_ade20k), f'train_cfg.max_iters={iters}',
        f'train_cfg.val_interval={iters}', f'param_scheduler.1.end={iters}',
        f'default_hooks.checkpoint.interval={iters}')
    checkpoint = osp.join(work_dir, f'iter_{iters}.pth')
    assert osp.isfile(checkpoint)
    base = majority_class_baseline(toy_ade20k)
    # --tta (3 scales x 2 flips) on the first 10 val images only, to keep the test short
    for extra in ([], ['--tta', 'test_dataloader.dataset.indices=10']):
        out_json = str(tmp_path / f'metrics{"_tta" if extra else ""}.json')
        stdout = run('tools/test.py', TOY_CONFIG, checkpoint, '--work-dir', work_dir, '--out-json',
                     out_json, *extra[:1], '--cfg-options', *data_options(toy_ade20k), *extra[1:])
        assert 'mIoU' in stdout
        with open(out_json) as f:
            metrics = {k: float(v) for k, v in json.load(f).items()}
        # clearly above predicting the majority class (mIoU ~21.7, mAcc 25, aAcc ~86.9)
        assert metrics['mIoU'] > base['mIoU'] + 20, (metrics, base)
        assert metrics['mAcc'] > base['mAcc'] + 20, (metrics, base)
        assert metrics['aAcc'] > base['aAcc'], (metrics, base)
    check_demo_png_shows_the_masks(toy_ade20k, checkpoint, tmp_path)


def check_demo_png_shows_the_masks(data_root, checkpoint, tmp_path, images=4):
    """tools/image_demo.py blends the config's palette over the images (mmseg's
    SegLocalVisualizer: ``(1 - alpha) image + alpha colour``, alpha 0.8): most ground-truth shape
    pixels must show their class colour, which must stand out from the image itself."""
    from mmengine.config import Config
    cfg = Config.fromfile(TOY_CONFIG)
    palette = np.array(cfg.metainfo['palette'], np.float64)
    alpha = cfg.visualizer.get('alpha', 0.8)
    names = sorted(glob.glob(osp.join(data_root, 'images/validation/*.jpg')))[:images]
    out = str(tmp_path / 'demo.png')
    run('tools/image_demo.py', *names, TOY_CONFIG, checkpoint, '--out', out, '--columns',
        str(images))
    drawn = mmcv.imread(out, channel_order='rgb').astype(np.float64)
    painted = distinct = total = 0
    for k, name in enumerate(names):
        image = mmcv.imread(name, channel_order='rgb').astype(np.float64)
        height, width = image.shape[:2]
        tile = drawn[:height, k * width:(k + 1) * width]
        label = mmcv.imread(
            name.replace('images', 'annotations').replace('.jpg', '.png'), flag='unchanged')
        for cls in range(1, NUM_CLASSES):  # the shapes (0 is the background)
            mask = label - 1 == cls
            blended = (1 - alpha) * image[mask] + alpha * palette[cls]
            painted += (np.abs(tile[mask] - blended).mean(1) < 30).sum()
            distinct += (np.abs(image[mask] - blended).mean(1) > 60).sum()
            total += mask.sum()
    assert total > 500
    assert distinct / total > 0.95  # the palette contrasts with the shapes' own colours
    assert painted / total > 0.6, painted / total  # and the predicted masks are drawn in it


# A config taken from mmseg itself, only the backbone swapped for one of ours (the README's
# "use mmmoga from your own mmseg config" example), shrunk to the toy data and 20 iterations.
MMSEG_CONFIG = """
_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)

model = dict(
    data_preprocessor=dict(size=(128, 128)),
    pretrained=None,
    backbone=dict(_delete_=True, type='InceptionNeXt', arch='atto', out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=[40, 80, 160, 320], channels=64, num_classes=4),
    auxiliary_head=dict(in_channels=160, channels=32, num_classes=4))

dataset = dict(
    type='BaseSegDataset', data_root='{root}', img_suffix='.jpg', seg_map_suffix='.png',
    reduce_zero_label=True,
    metainfo=dict(classes=('background', 'square', 'circle', 'triangle')))
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(
        _delete_=True, **dataset,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackSegInputs'),
        ]))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(
        _delete_=True, **dataset,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', reduce_zero_label=True),
            dict(type='PackSegInputs'),
        ]))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.01))
param_scheduler = []
train_cfg = dict(max_iters=20, val_interval=20)
default_hooks = dict(checkpoint=dict(interval=20))
"""


def test_an_mmseg_config_with_our_backbone_trains_and_evaluates(toy_ade20k, tmp_path):
    config = tmp_path / 'upernet_inceptionnext_atto_toy.py'
    config.write_text(MMSEG_CONFIG.replace('{root}', toy_ade20k.rstrip('/') + '/'))
    work_dir = str(tmp_path / 'work')
    stdout = run('tools/train.py', str(config), '--work-dir', work_dir)
    log = open(glob.glob(osp.join(work_dir, '*', '*.log'))[0]).read()
    assert 'InceptionNeXt' in open(glob.glob(osp.join(work_dir, '*.py'))[0]).read()
    assert 'mIoU' in log and 'Iter(val)' in log, stdout[-2000:]
    assert osp.isfile(osp.join(work_dir, 'iter_20.pth'))
