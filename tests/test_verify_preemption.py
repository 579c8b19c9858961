"""The preemption verifier's verdicts (mmmoga/devtools/verify/preemption.py): a resume is exact only
when the launch after a preemption starts right after the saved iteration and logs the reference's
figures; the summary line counts it all. The launches themselves run in
`tools/misc/verify_faults.py --preempt N` (minutes); here their logs are laid out by hand."""
import json

from mmmoga.devtools.verify.preemption import (Preemption, PreemptionReport, _judge, _records,
                                               summary_line)


class FakeRun:
    """What _judge reads of a launch: the log folder it wrote."""

    def __init__(self, log_dir):
        self.log_dir = str(log_dir)

    def new_log_dir(self, what='run'):
        return self.log_dir


def write_log(folder, records):
    (folder / 'vis_data').mkdir(parents=True)
    with open(folder / 'vis_data' / 'scalars.json', 'w') as f:
        for record in records:
            f.write(json.dumps(record) + '\n')
    return FakeRun(folder)


def train(step, loss, time=0.4):
    return dict(step=step, loss=loss, loss_cls=loss / 2, lr=1e-3, time=time, data_time=0.01)


REFERENCE_LOG = [
    train(1, 5.0),
    train(2, 4.5),
    train(3, 4.25),
    dict(step=1, **{'coco/bbox_mAP': 0.1}),
    train(4, 4.0)
]


def reference(tmp_path):
    return _records(write_log(tmp_path / 'reference', REFERENCE_LOG).log_dir)


def test_a_launch_with_the_reference_figures_from_the_saved_iteration_on_is_exact(tmp_path):
    pending = [Preemption(1, 'train', 'the process', saved_iter=2)]
    judged = list(pending)
    # other timings are fine: only figures count
    run = write_log(tmp_path / 'resumed',
                    [train(3, 4.25, time=9.0), REFERENCE_LOG[3],
                     train(4, 4.0)])
    _judge(pending, run, reference(tmp_path))
    assert judged[0].resumed_exactly is True and pending == []


def test_control_a_different_loss_is_not_exact(tmp_path):
    pending = [Preemption(1, 'train', 'the process', saved_iter=2)]
    judged = list(pending)
    _judge(pending, write_log(tmp_path / 'resumed', [train(3, 4.2500001)]), reference(tmp_path))
    assert judged[0].resumed_exactly is False


def test_control_a_launch_that_restarts_the_epoch_is_not_exact(tmp_path):
    """Logged figures equal to the reference's, but from iteration 1: the epoch ran again."""
    pending = [Preemption(1, 'train', 'the process', saved_iter=2)]
    judged = list(pending)
    _judge(pending, write_log(tmp_path / 'resumed', REFERENCE_LOG[:3]), reference(tmp_path))
    assert judged[0].resumed_exactly is False


def test_a_launch_that_logged_nothing_leaves_its_preemptions_to_the_next(tmp_path):
    first = Preemption(1, 'val', 'the process', saved_iter=2)
    pending, figures = [first], reference(tmp_path)
    _judge(pending, write_log(tmp_path / 'empty', []), figures)
    assert pending == [first] and first.resumed_exactly is None
    second = Preemption(2, 'train', 'the process', saved_iter=2)
    pending.append(second)
    _judge(pending, write_log(tmp_path / 'next', [train(3, 4.25)]), figures)
    assert first.resumed_exactly and second.resumed_exactly


def test_summary_line_and_verdict():
    report = PreemptionReport(final_identical=True)
    report.preemptions = [
        Preemption(n, 'train', 'the process', saved_iter=4, computed_iter=4, resumed_exactly=True)
        for n in (1, 2)
    ]
    assert summary_line(report) == '2 preemptions, 2 resumed exactly, 0 iterations redone, 0 lost'
    assert report.ok
    # control: more iterations redone than preemptions (mmengine restarting the epoch) fails
    report.preemptions[0].computed_iter = 7
    assert summary_line(report).startswith('2 preemptions, 2 resumed exactly, 3 iterations redone')
    assert not report.ok
    report.preemptions[0].computed_iter = 4
    report.preemptions[1].lost = 'rolled back'
    assert summary_line(report).endswith('0 iterations redone, 1 lost') and not report.ok
