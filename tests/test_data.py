import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmmoga.datasets import make_ade20k, make_coco_instances, make_coco_keypoints
from mmmoga.utils import check_dataset_paths

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_toy_coco_instances_load_in_mmdet(tmp_path):
    from mmdet.datasets import CocoDataset
    make_coco_instances(str(tmp_path), num_train=6, num_val=2)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mask_rcnn_moganet_xt_toy.py'))
    ds_cfg = cfg.train_dataloader.dataset.copy()
    ds_cfg.pop('type')
    ds_cfg.pop('_scope_', None)
    ds_cfg['data_root'] = str(tmp_path)
    with DefaultScope.overwrite_default_scope('mmdet'):  # the pipeline's transforms are mmdet's
        dataset = CocoDataset(**ds_cfg)
        assert len(dataset) == 6
        sample = dataset[0]
    instances = sample['data_samples'].gt_instances
    assert sample['inputs'].shape == (3, 160, 160)
    assert len(instances) >= 1
    assert instances.masks.masks.shape[1:] == (160, 160)
    assert set(instances.labels.tolist()) <= {0, 1, 2}
    # every mask lies inside its box, and is a substantial part of it (a learnable shape)
    for box, mask in zip(instances.bboxes.tensor.numpy(), instances.masks.masks):
        ys, xs = np.nonzero(mask)
        assert xs.min() >= box[0] - 2 and xs.max() <= box[2] + 2
        assert mask.sum() > 0.3 * (box[2] - box[0]) * (box[3] - box[1])


def test_toy_ade20k_loads_in_mmseg(tmp_path):
    from mmseg.datasets import BaseSegDataset
    from mmseg.datasets.transforms import LoadAnnotations
    make_ade20k(str(tmp_path), num_train=3, num_val=2)
    dataset = BaseSegDataset(
        data_root=str(tmp_path),
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=True,
        metainfo=dict(classes=('background', 'square', 'circle', 'triangle')),
        pipeline=[LoadAnnotations(reduce_zero_label=True)])
    assert len(dataset) == 3
    labels = dataset[0]['gt_seg_map']
    assert set(np.unique(labels).tolist()) <= {0, 1, 2, 3, 255}
    assert (labels[:2] == 255).all()  # label 0 ("other") is ignored, as in ADE20K


def test_toy_coco_keypoints_load_in_mmpose(tmp_path):
    from mmpose.datasets import CocoDataset
    make_coco_keypoints(str(tmp_path), num_train=4, num_val=2)
    dataset = CocoDataset(
        data_root=str(tmp_path),
        ann_file='annotations/person_keypoints_val.json',
        data_prefix=dict(img='val/'),
        pipeline=[],
        test_mode=False)
    assert len(dataset) == 2
    item = dataset[0]
    assert item['keypoints'].shape == (1, 17, 2)
    assert (item['keypoints_visible'] > 0).all()
    x0, y0, x1, y1 = item['bbox'][0]  # xyxy after loading
    points = item['keypoints'][0]
    assert (points[:, 0] >= x0).all() and (points[:, 0] <= x1).all()
    assert (points[:, 1] >= y0).all() and (points[:, 1] <= y1).all()


def test_toy_data_is_reproducible(tmp_path):
    make_coco_instances(str(tmp_path / 'a'), num_train=2, num_val=1)
    make_coco_instances(str(tmp_path / 'b'), num_train=2, num_val=1)
    for name in ('annotations/instances_train.json', 'train/000001.jpg'):
        assert (tmp_path / 'a' / name).read_bytes() == (tmp_path / 'b' / name).read_bytes()


def test_missing_coco_names_paths_and_remedies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mask_rcnn_moganet_s.py'))
    with pytest.raises(FileNotFoundError) as err:
        check_dataset_paths(cfg, ['train_dataloader', 'val_dataloader'])
    text = str(err.value)
    assert 'data/coco/annotations/instances_train2017.json' in text
    assert 'data/coco/train2017/' in text and 'data/coco/val2017/' in text
    assert 'https://cocodataset.org' in text
    assert 'train_dataloader.dataset.data_root=' in text
    assert 'make_toy_data.py' in text


def test_train_tool_stops_at_once_without_coco(tmp_path):
    result = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools/train.py'),
        osp.join(ROOT, 'configs/mask_rcnn_moganet_s.py')
    ],
                            cwd=tmp_path,
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode != 0
    assert 'data/coco/annotations/instances_train2017.json' in result.stderr
    assert 'https://cocodataset.org' in result.stderr
    work_dirs = tmp_path / 'work_dirs'
    assert not work_dirs.exists() or not list(work_dirs.rglob('*.pth'))
