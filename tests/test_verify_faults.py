"""The judgement of tools/misc/verify_faults.py (mmmoga/devtools/verify/faults.py) on the files a
kill left.

The verifier itself trains the toy detector for minutes (docs/faults.md); here its verdict is
checked on work dirs laid out as each hook leaves them after a kill, in milliseconds, with the
mmengine-hook case as the control that must count as lost.
"""
import os
import os.path as osp

import pytest
import torch

from mmmoga.devtools.verify.faults import (FaultReport, Kill, _assess, _Files, inject_faults,
                                           summary_line)
from mmmoga.devtools.verify.runs import ScheduleError, compare_runs

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def checkpoint(path, epoch):
    torch.save(dict(meta=dict(epoch=epoch), state_dict=dict(w=torch.ones(3) * epoch)), path)


def point_at(work_dir, path):
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(str(path))


def assess(work_dir, previous, recorded, before=None, old_temps=frozenset()):
    kill = Kill(1, 'write', 'epoch_2.pth', 1.0, 1)
    _assess(kill, _Files(str(work_dir), 'epoch_{}.pth'), 2, previous, recorded, before,
            set(old_temps))
    return kill


def test_atomic_hook_killed_mid_write_survives(tmp_path):
    checkpoint(tmp_path / 'epoch_1.pth', 1)
    point_at(tmp_path, tmp_path / 'epoch_1.pth')
    (tmp_path / '.epoch_2.pth.77.0123abcd.tmp').write_bytes(b'PK\x03\x04 partial')
    kill = assess(tmp_path, str(tmp_path / 'epoch_1.pth'), str(tmp_path / 'epoch_1.pth'))
    assert kill.moment == 'mid-write (temporary file)' and kill.during_write
    assert kill.lost is None and kill.resumed_from == 'epoch_1.pth'


def test_atomic_hook_killed_before_removing_the_old_one_survives(tmp_path):
    checkpoint(tmp_path / 'epoch_1.pth', 1)
    checkpoint(tmp_path / 'epoch_2.pth', 2)
    point_at(tmp_path, tmp_path / 'epoch_2.pth')
    kill = assess(tmp_path, str(tmp_path / 'epoch_1.pth'), str(tmp_path / 'epoch_2.pth'))
    assert kill.moment == 'in last_checkpoint, the old one not yet removed' and kill.lost is None


def test_control_mmengine_hook_killed_mid_write_is_lost(tmp_path):
    # mmengine removed epoch_1.pth first, then died while writing epoch_2.pth in place
    with open(tmp_path / 'epoch_2.pth', 'wb') as f:
        f.write(b'PK\x03\x04 truncated')
    point_at(tmp_path, tmp_path / 'epoch_1.pth')
    kill = assess(tmp_path, str(tmp_path / 'epoch_1.pth'), str(tmp_path / 'epoch_1.pth'))
    assert kill.moment == 'mid-write (final file, truncated)'
    assert kill.lost == 'last_checkpoint names epoch_1.pth, which is gone'


def test_a_truncated_checkpoint_named_by_last_checkpoint_is_lost(tmp_path):
    (tmp_path / 'epoch_2.pth').write_bytes(b'PK\x03\x04 truncated')
    point_at(tmp_path, tmp_path / 'epoch_2.pth')
    kill = assess(tmp_path, None, str(tmp_path / 'epoch_2.pth'))
    assert kill.lost.startswith('epoch_2.pth cannot be loaded: Checkpoint')


def test_no_checkpoint_yet_is_not_a_loss_but_a_vanished_one_is(tmp_path):
    assert assess(tmp_path, None, None).lost is None
    lost = assess(tmp_path, None, str(tmp_path / 'epoch_1.pth')).lost
    assert lost == 'no last_checkpoint, although epoch_1.pth was recorded'


def test_partial_files_of_earlier_launches_do_not_count_as_this_kill(tmp_path):
    checkpoint(tmp_path / 'epoch_1.pth', 1)
    point_at(tmp_path, tmp_path / 'epoch_1.pth')
    old = '.epoch_2.pth.77.0123abcd.tmp'
    (tmp_path / old).write_bytes(b'left by an earlier kill')
    kill = assess(tmp_path, str(tmp_path / 'epoch_1.pth'), None, old_temps={old})
    assert kill.moment == 'before the save' and kill.lost is None


def test_summary_line():
    report = FaultReport(kills=[Kill(1, 'write', 'epoch_1.pth', 1.0, 1)], final_identical=True)
    assert summary_line(report) == '1 faults injected, 1 survived, 0 lost' and report.ok
    report.kills.append(Kill(2, 'renamed', 'epoch_2.pth', 1.0, 1, lost='gone'))
    assert summary_line(report) == '2 faults injected, 1 survived, 1 lost' and not report.ok


def test_too_short_a_schedule_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ScheduleError, match=r'--kills 20 takes 4 checkpoints.*max_epochs=6'):
        inject_faults(
            osp.join(ROOT, 'configs/mask_rcnn_moganet_xt_toy.py'),
            osp.join(ROOT, 'tools'),
            1,
            20,
            str(tmp_path),
            29999,
            cfg_options=['train_cfg.max_epochs=3'])
    assert os.listdir(tmp_path) == []


def run_dir(root, name, weights, metrics):
    """A work dir as a finished run leaves it: last_checkpoint, the checkpoint, scalars.json."""
    work_dir = root / name
    (work_dir / '20260101_000000' / 'vis_data').mkdir(parents=True)
    checkpoint(work_dir / 'epoch_2.pth', 2)
    state = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    state['state_dict'] = dict(w=weights)
    torch.save(state, work_dir / 'epoch_2.pth')
    point_at(work_dir, work_dir / 'epoch_2.pth')
    return str(work_dir), {2: metrics}


def test_compare_runs_passes_identical_runs_and_fails_on_any_difference(tmp_path):
    ref_dir, reference = run_dir(tmp_path, 'ref', torch.ones(3), {'coco/bbox_mAP': 0.5})
    same_dir, same = run_dir(tmp_path, 'same', torch.ones(3), {'coco/bbox_mAP': 0.5})
    assert compare_runs(reference, [same], ref_dir, same_dir, 'epoch')
    # the controls: one weight, one metric, or the reference's validations missing
    other_dir, other = run_dir(tmp_path, 'other', torch.tensor([1., 1., 1.0001]),
                               {'coco/bbox_mAP': 0.5})
    assert not compare_runs(reference, [other], ref_dir, other_dir, 'epoch')
    assert not compare_runs(reference, [{2: {'coco/bbox_mAP': 0.4}}], ref_dir, same_dir, 'epoch')
    assert not compare_runs({}, [same], ref_dir, same_dir, 'epoch')
