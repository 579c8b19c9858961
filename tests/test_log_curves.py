"""tools/analysis/plot_logs.py's library: curves from the scalars.json mmengine's LocalVisBackend
writes (written here by the backend itself, as a training run would)."""
import os
import os.path as osp
import struct

import pytest
from mmengine.visualization import LocalVisBackend

from mmmoga.devtools.log_curves import find_scalar_files, plot_curves, select_run, split_curves


def write_run(work_dir, stamp, train_steps=(10, 20, 30), val_epochs=(1, 2, 3)):
    """A run's vis_data the way mmengine's LoggerHook records an epoch-based loop: training
    scalars at step = iteration (with epoch/iter fields), validation metrics at step = epoch."""
    backend = LocalVisBackend(save_dir=osp.join(work_dir, stamp, 'vis_data'))
    for i, step in enumerate(train_steps):
        backend.add_scalars(dict(lr=0.01, loss=2.0 / (i + 1), epoch=i + 1, iter=step), step=step)
    for epoch in val_epochs:
        backend.add_scalars({'coco/bbox_mAP': 0.1 * epoch, 'data_time': 0.01}, step=epoch)
    backend.close()
    return osp.join(work_dir, stamp, 'vis_data', 'scalars.json')


def test_train_and_val_curves_get_their_own_steps(tmp_path):
    path = write_run(str(tmp_path), '20260101_000000')
    _, records = select_run(path, ['loss'])
    curves = split_curves(records, ['loss', 'coco/bbox_mAP'])
    assert curves['loss'] == ([10, 20, 30], [2.0, 1.0, 2.0 / 3], 'iteration')
    assert curves['coco/bbox_mAP'][0] == [1, 2, 3]
    assert curves['coco/bbox_mAP'][1] == pytest.approx([0.1, 0.2, 0.3])
    assert curves['coco/bbox_mAP'][2] == 'epoch'


def test_newest_run_with_every_key_is_chosen(tmp_path):
    """``make demo`` trains, then tests into the same work dir: the test run (metrics, no loss)
    is newer but lacks ``loss``, so the training run is plotted."""
    train = write_run(str(tmp_path), '20260101_000000')
    test = write_run(str(tmp_path), '20260101_010000', train_steps=(), val_epochs=(3, ))
    os.utime(train, (1, 1))
    assert find_scalar_files(str(tmp_path)) == [test, train]
    assert select_run(str(tmp_path), ['coco/bbox_mAP'])[0] == test
    assert select_run(str(tmp_path), ['loss', 'coco/bbox_mAP'])[0] == train
    with pytest.raises(KeyError, match='mIoU'):
        select_run(str(tmp_path), ['loss', 'mIoU'])


def test_plot_writes_a_png(tmp_path):
    write_run(str(tmp_path), '20260101_000000')
    out = str(tmp_path / 'curves.png')
    plot_curves(str(tmp_path), ['loss', 'coco/bbox_mAP'], out)
    with open(out, 'rb') as f:
        header = f.read(24)
    assert header[:8] == b'\x89PNG\r\n\x1a\n'
    width, height = struct.unpack('>II', header[16:24])
    assert width > 2 * height  # two panels side by side


def test_missing_work_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='neither a work dir'):
        find_scalar_files(str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='LocalVisBackend'):
        find_scalar_files(str(tmp_path))
