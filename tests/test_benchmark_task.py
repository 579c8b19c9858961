"""Tests of tools/analysis/benchmark_task.py (the command line) and
:mod:`mmmoga.devtools.benchmark.task` (the training-step benchmark of whole detectors and
segmentors): the toy Mask R-CNN and Semantic FPN configs at 128x128, batch 1, one step, both
backbone ops x with_cp, and the input errors."""
import json
import math
import os.path as osp
import runpy
import types

import pytest
import torch

from mmmoga.devtools.benchmark import task

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(ROOT, 'tools', 'analysis', 'benchmark_task.py')
MASK_RCNN = osp.join(ROOT, 'configs', 'mask_rcnn_moganet_xt_toy.py')
SEMFPN = osp.join(ROOT, 'configs', 'semfpn_moganet_xt_toy.py')
RESNET = osp.join(ROOT, 'configs', 'mask_rcnn_r50_fpn.py')


@pytest.fixture
def bench():
    """The command line as a module; main() sets this process's thread count: restored after."""
    threads = torch.get_num_threads()
    yield types.SimpleNamespace(**runpy.run_path(SCRIPT, run_name='benchmark_task'))
    torch.set_num_threads(threads)


def test_toy_detector_and_segmentor_steps(bench, tmp_path, capsys):
    out_json = tmp_path / 'task.json'
    report = bench.main([
        MASK_RCNN, SEMFPN, '--batch', '1', '--size', '128', '128', '--iters', '1', '--warmup', '0',
        '--with-cp', 'both', '--compare-reference', '--threads', '1', '--isolate', 'none',
        '--markdown', '--json',
        str(out_json)
    ])
    stdout = capsys.readouterr().out
    rows = report['rows']
    settings = [(osp.basename(r['config']), r['ops'], r['with_cp']) for r in rows]
    assert settings == [(osp.basename(c), ops, cp) for c in (MASK_RCNN, SEMFPN)
                        for cp in (False, True) for ops in ('reference', 'default')]
    expected_losses = {
        MASK_RCNN: {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'},
        SEMFPN: {'decode.loss_ce'},
    }
    for row in rows:
        result = row['result']
        assert 'error' not in result, (row['config'], row['ops'], row['with_cp'], result)
        assert math.isfinite(result['s_per_step']) and result['s_per_step'] > 0
        assert math.isfinite(result['peak_mb']) and result['peak_mb'] > 0
        assert result['memory_method'] in ('VmHWM', 'psutil sampling (1 ms)')
        # the exact size asked for (the toy Semantic FPN's own crop is 64x64)
        assert result['input_shape'] == [1, 3, 128, 128]
        # what was built is what the row says
        # (the reference in NCHW as the official code; the default as the config builds it,
        # channels-last on CPU)
        assert result['backbone'] == dict(
            type='MogaNet',
            with_cp=row['with_cp'],
            reference_ops=row['ops'] == 'reference',
            channels_last=row['ops'] == 'default')
        # the synthetic ground truth reaches every loss, and the losses are real numbers
        assert expected_losses[row['config']] <= set(result['losses']), result['losses']
        assert all(math.isfinite(v) for v in result['losses'].values())
        assert result['loss'] > 0
        assert ('ratio' in row) == (row['ops'] == 'default')
    # same seed, same data, the same function either way: the first step's loss agrees across
    # ops, layouts and with_cp (so the rows time the same work; a channels-last feature map
    # reaching mmcv's RoIAlign changed loss_mask by 20%)
    for config in (MASK_RCNN, SEMFPN):
        losses = [r['result']['loss'] for r in rows if r['config'] == config]
        assert max(losses) - min(losses) <= 1e-4 * max(losses), losses
    for row in rows[1::2]:
        reference = rows[rows.index(row) - 1]['result']
        assert row['ratio']['time'] == pytest.approx(row['result']['s_per_step'] /
                                                     reference['s_per_step'])
        assert row['ratio']['memory'] == pytest.approx(row['result']['peak_mb'] /
                                                       reference['peak_mb'])

    lines = [ln for ln in stdout.splitlines() if ln.startswith('|')]
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    assert header == [
        'config', 'backbone ops', 'with_cp', 'input', 's/step', 'peak MB', 'time x', 'mem x'
    ]
    cells = [[c.strip() for c in ln.strip('|').split('|')] for ln in lines[2:]]
    assert [c[:3] for c in cells[:2]] == [['mask_rcnn_moganet_xt_toy', 'reference', 'off'],
                                          ['mask_rcnn_moganet_xt_toy', 'default', 'off']]
    assert cells[0][6:] == ['-', '-'] and all(c.endswith('x') for c in cells[1][6:])
    assert 'threads 1, torch ' + torch.__version__ in stdout
    assert 'batch 1, 128x128 images' in stdout and '0 warmup + 1 timed steps' in stdout
    saved = json.loads(out_json.read_text())
    assert saved['rows'] == json.loads(json.dumps(rows))
    assert saved['settings']['compare_reference'] and saved['settings']['with_cp'] == 'both'


def test_isolated_setting_in_a_fresh_interpreter():
    result = task.benchmark_task(
        SEMFPN,
        {'model.backbone.reference_ops': True},
        batch=1,
        size=(32, 64),  # below the config's 64x64 crop: the asked size, not the crop, is run
        iters=1,
        warmup=0,
        threads=1,
        isolate=True,
        timeout=300)
    assert 'error' not in result, result
    assert result['s_per_step'] > 0 and result['peak_mb'] > 0 and result['baseline_mb'] > 0
    assert result['input_shape'] == [1, 3, 32, 64]
    assert result['backbone']['reference_ops'] is True
    assert 'decode.loss_ce' in result['losses']


def test_errors_name_the_problem_and_the_fix(bench, capsys):
    with pytest.raises(SystemExit) as error:
        bench.parse_args([RESNET, '--size', '128', '128', '--compare-reference'])
    assert error.value.code == 2
    message = capsys.readouterr().err
    assert "the backbone ResNet has no 'reference_ops' argument" in message
    assert 'drop --compare-reference' in message
    bench.parse_args([RESNET, '--size', '128', '128'])  # without it the config is fine

    with pytest.raises(SystemExit):
        bench.parse_args(['configs/mask_rcnn_moganet_xx.py', '--size', '128', '128'])
    assert "config file not found: 'configs/mask_rcnn_moganet_xx.py'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse_args(
            [osp.join(ROOT, 'configs', 'imagenet_moganet_xt_toy.py'), '--size', '64', '64'])
    assert "default_scope is 'mmpretrain'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse_args([SEMFPN, '--size', '16', '128'])
    assert 'both sides must be >= 32' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse_args([SEMFPN])
    assert 'the following arguments are required: --size' in capsys.readouterr().err
    # the library raises the same errors for direct callers
    with pytest.raises(ValueError, match='drop --compare-reference'):
        task.run_task_benchmark([RESNET], size=(64, 64), compare_reference=True)


def test_the_configs_backbone_alone_inference_and_fp16_training(bench, capsys):
    """--backbone-only: what a config's user gets from the backbone (as the config builds it),
    against the official op sequence in NCHW; fp16 training through a GradScaler."""
    report = bench.main([
        MASK_RCNN, '--backbone-only', '--dtype', 'fp16', '--batch', '1', '--size', '64', '96',
        '--iters', '1', '--warmup', '0', '--compare-reference', '--threads', '1', '--isolate',
        'none', '--markdown'
    ])
    stdout = capsys.readouterr().out
    rows = report['rows']
    assert [(r['mode'], r['ops']) for r in rows] == [(m, o) for m in ('infer', 'train')
                                                     for o in ('reference', 'default')]
    for row in rows:
        result = row['result']
        assert 'error' not in result, result
        assert result['input_shape'] == [1, 3, 64, 96] and result['s_per_step'] > 0
        assert result['backbone']['channels_last'] == (row['ops'] == 'default')
    train = [r['result'] for r in rows if r['mode'] == 'train']
    assert all(math.isfinite(r['loss']) and set(r['losses']) == {'loss'} for r in train)
    header = next(ln for ln in stdout.splitlines() if ln.startswith('| config'))
    assert '| dtype | step |' in header and '| fp16 | backbone infer |' in stdout
    assert 'GradScaler' in stdout and 'channels_last=False' in stdout
    with pytest.raises(SystemExit):
        bench.parse_args([MASK_RCNN, '--size', '64', '64', '--modes', 'infer'])
    assert '--modes infer needs --backbone-only' in capsys.readouterr().err


def test_rounds_interleave_the_ops_and_keep_each_rounds_ratio(bench, capsys):
    """--repeat 3: each setting three times, reference and default interleaved; the row is its
    median round, and the JSON keeps every round's time ratio (the figure to quote is their
    median); the JSON records the command, date, commit and machine."""
    report = bench.main([
        MASK_RCNN, '--backbone-only', '--modes', 'infer', '--batch', '1', '--size', '64', '64',
        '--iters', '1', '--warmup', '0', '--compare-reference', '--threads', '1', '--isolate',
        'none', '--repeat', '3'
    ])
    stdout = capsys.readouterr().out
    reference, default = report['rows']
    assert (reference['ops'], default['ops']) == ('reference', 'default')
    for row in (reference, default):
        rounds = row['result']['round_s_per_step']
        assert len(rounds) == 3 and row['result']['s_per_step'] == sorted(rounds)[1]
    ratios = default['round_ratios']['time']
    assert ratios == pytest.approx([
        after / before for before, after in zip(reference['result']['round_s_per_step'],
                                                default['result']['round_s_per_step'])
    ])
    assert 'median of 3 rounds' in stdout and report['settings']['repeat'] == 3
    env = report['environment']
    assert isinstance(env['command'], str) and env['command']  # here: pytest's own argv
    assert len(env['date']) == 10 and env['commit'] and env['cpu_cores'] >= 1
    with pytest.raises(SystemExit):
        bench.parse_args([MASK_RCNN, '--size', '64', '64', '--repeat', '0'])
    assert '--repeat must be >= 1' in capsys.readouterr().err
