"""Tests of tools/analysis/benchmark_backbones.py (the command line) and
:mod:`mmmoga.devtools.benchmark` (the library behind it): a tiny end-to-end run (smallest variants,
one step; 64x64, as MogaNet's BN needs more than one value per channel at stride 32) and the
argument errors."""
import json
import os.path as osp
import re

import pytest
import torch
from small_models import tiny_spec
from tool_scripts import ROOT, load_tool

from mmmoga.devtools import benchmark

SCRIPT_NAME = 'tools/analysis/benchmark_backbones.py'
SCRIPT = osp.join(ROOT, SCRIPT_NAME)


def load_script():
    return load_tool(SCRIPT_NAME)


@pytest.fixture
def bench():
    threads = torch.get_num_threads()
    yield load_script()
    torch.set_num_threads(threads)  # main() sets the thread count of this process


TINY_RUN = [
    '--models', 'moganet_xt', 'hornet_t_7x7', '--peer', 'hornet_t_7x7=mmpretrain_hornet_t_7x7',
    '--batch', '1', '--size', '64', '--dense-size', '96', '--iters', '1', '--warmup', '0',
    '--threads', '1', '--isolate', 'none', '--cp-summary-model', 'moganet_xt', '--cp-summary-size',
    '64', '--cp-summary-batch', '1', '--cp-summary-warmup', '0'
]


def test_tiny_run_reports_every_column(bench, tmp_path, capsys):
    out_json = tmp_path / 'bench.json'
    report = bench.main(TINY_RUN + ['--markdown', '--json', str(out_json)])
    stdout = capsys.readouterr().out

    # Markdown table: header, alignment row, one row per model (the peer was added to the run)
    lines = [ln for ln in stdout.splitlines() if ln.startswith('|')]
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    assert header == [
        'model', 'dtype', 'format', 'with_cp', 'params (M)', 'GFLOPs@64', 'GFLOPs@96',
        'infer img/s', 'infer peak MB', 'train img/s', 'train peak MB', 'peer', 'infer x',
        'train x', 'train mem x'
    ]
    rows = {r[0]: r for r in ([c.strip() for c in ln.strip('|').split('|')] for ln in lines[2:])}
    assert set(rows) == {'moganet_xt', 'hornet_t_7x7', 'mmpretrain_hornet_t_7x7'}
    for name, cells in rows.items():
        assert cells[1:4] == ['fp32', 'default', 'no']
        numbers = [float(c) for c in cells[4:11]]  # params .. train peak MB
        assert all(n >= 0 for n in numbers), (name, cells)
        assert all(n > 0 for n in numbers[:4] + [numbers[5]]), (name, cells)  # params/FLOPs/img/s
    assert rows['hornet_t_7x7'][11] == 'mmpretrain_hornet_t_7x7'
    assert all(c.endswith('x') and float(c[:-1]) > 0 for c in rows['hornet_t_7x7'][12:15])
    assert rows['moganet_xt'][11:] == ['-', '-', '-', '-']

    # the two HorNets are the same network: same parameter count, identical outputs
    assert rows['hornet_t_7x7'][4] == rows['mmpretrain_hornet_t_7x7'][4] == '21.90'
    assert 'hornet_t_7x7 vs mmpretrain_hornet_t_7x7: max |ours - peer|' in stdout
    assert '-> identical' in stdout
    check = report['peer_checks'][0]
    assert check['checked'] and check['same'] and check['max_abs_diff'] < 1e-4

    # the with_cp summary line
    summary = [ln for ln in stdout.splitlines() if 'train-step peak memory with/without' in ln]
    assert len(summary) == 1 and summary[0].startswith('MogaNet-XT 64x64 batch 1')
    assert report['cp_summary']['ratio'] > 0

    # JSON: every figure, positive
    saved = json.loads(out_json.read_text())
    assert saved['environment']['device'] == 'cpu'
    for row in saved['rows']:
        for mode in ('infer', 'train'):
            assert row[mode]['images_per_s'] > 0 and row[mode]['peak_mb'] >= 0
            assert row[mode]['memory_method'] in ('VmHWM', 'psutil sampling (1 ms)')
        assert row['params'] > 0 and all(v > 0 for v in row['flops'].values())
    assert saved['cp_summary']['line'] == report['cp_summary']['line']

    # the plain-text table has the same columns
    plain = benchmark.format_plain(*benchmark.table_rows(report['rows'], 64, 96)).splitlines()
    assert all(name in plain[0] for name in header) and plain[0].startswith('model')
    assert len(plain) == 2 + 3  # header, rule, three rows


def test_isolated_measurement_in_a_fresh_process():
    spec = tiny_spec(mode='train', dtype='bf16', memory_format='channels_last', with_cp=True)
    result = benchmark.run_measurement(spec, isolate=True, timeout=120)
    assert 'error' not in result, result
    assert result['images_per_s'] > 0 and result['ms_per_step'] > 0
    assert result['peak_mb'] > 0 and result['baseline_mb'] > 0


def test_unknown_model_names_list_the_valid_choices(bench, capsys):
    with pytest.raises(SystemExit) as error:
        bench.parse_args(['--models', 'moganet_s', 'mogaent-s'])
    assert error.value.code == 2
    message = capsys.readouterr().err
    assert "unknown model 'mogaent-s'; did you mean moganet_s" in message
    valid = message.split('valid choices: ')[1]
    for name in ('moganet_s', 'hornet_t_7x7', 'mmpretrain_hornet_t_7x7', 'inceptionnext_t',
                 'convnext_t', 'conv2former_n'):
        assert name in valid

    with pytest.raises(SystemExit):
        bench.parse_args(['--peer', 'inceptionnext_t=convnext-x'])
    assert "unknown peer 'convnext-x'; did you mean" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse_args(['--peer', 'inceptionnext_t'])
    assert 'OURS=PEER' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse_args(['--dtype', 'fp8'])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.parse_args(['--dense-steps', '800x'])
    assert '--dense-steps: an image size is N or HxW' in capsys.readouterr().err


def test_peers_default_and_explicit(bench):
    args = bench.parse_args([
        '--models', 'HorNet-T', 'mmpretrain_hornet_t_7x7', 'inceptionnext_t', 'convnext_t',
        'inceptionnext_s'
    ])
    assert args.models[0] == 'hornet_t_7x7'
    assert args.peers == {
        'hornet_t_7x7': 'mmpretrain_hornet_t_7x7',
        'inceptionnext_t': 'convnext_t'
    }
    args = bench.parse_args(['--models', 'moganet_s', 'moganet_s_ref'])
    assert args.peers == {'moganet_s': 'moganet_s_ref'}
    args = bench.parse_args(['--models', 'inceptionnext_t', '--peer', 'inceptionnext_t=convnext_s'])
    assert args.models == ['inceptionnext_t', 'convnext_s']
    assert args.peers == {'inceptionnext_t': 'convnext_s'}


def test_one_name_per_model_with_the_old_spellings_accepted(bench):
    """Our backbones are named as :func:`mmmoga.create_backbone` names them (the ImageNet
    entries of the metafiles): every dense model of ours is one of its names or one of them
    without the resolution suffix, and the reverse; hyphens and HorNet's default mixer left out
    are taken at the command line."""
    from mmmoga.models.factory import BACKBONES
    ours = {
        name
        for name, entry in benchmark.BENCHMARK_MODELS.items()
        if entry.source == 'mmmoga' and not name.endswith(('_ref', '_cls'))
    }
    named = {re.sub(r'_(256|384)$', '', name) for name in BACKBONES}
    # the arch of Conv2Former-B's ImageNet-22K release has no ImageNet-1K entry of its own
    assert ours - named == {'conv2former_b_22k'} and named <= ours
    args = bench.parse_args([
        '--models', 'moganet-s', 'hornet-t', 'hornet-t-gf', 'mmpretrain-hornet-t-cls',
        'timm-inceptionnext-a', 'moganet-xt-ref', '--cp-summary-model', 'MogaNet-S'
    ])
    assert args.models == [
        'moganet_s', 'hornet_t_7x7', 'hornet_t_gf', 'mmpretrain_hornet_t_7x7_cls',
        'timm_inceptionnext_a', 'moganet_xt_ref'
    ]
    assert args.cp_summary_model == 'moganet_s'


def test_command_line_is_a_thin_wrapper_of_the_library(bench, capsys):
    import subprocess
    import sys
    root = osp.dirname(osp.dirname(SCRIPT))
    proc = subprocess.run([sys.executable, SCRIPT, '--list-models'],
                          capture_output=True,
                          text=True,
                          cwd=osp.dirname(root),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert listed == list(benchmark.BENCHMARK_MODELS)
    with pytest.raises(SystemExit):
        bench.parse_args(['--help'])
    help_text = capsys.readouterr().out
    assert 'What is measured:' in help_text and 'Peak memory:' in help_text  # the library's text
    assert '--cp-summary-model' in help_text and '--fuse' in help_text


def test_fused_and_gemm_columns(bench, capsys):
    report = bench.main([
        '--models', 'moganet_xt', '--batch', '1', '--size', '64', '--dense-size', '64', '--iters',
        '1', '--warmup', '0', '--threads', '1', '--isolate', 'none', '--no-cp-summary', '--modes',
        'infer', '--fuse', '--gemm', '--gemm-size', '1024', '--markdown'
    ])
    stdout = capsys.readouterr().out
    lines = [ln for ln in stdout.splitlines() if ln.startswith('|')]
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    assert header[-6:] == [
        'fused img/s', 'fused x', 'infer GMAC/s', 'train GMAC/s', 'infer/GEMM', 'train/GEMM'
    ]
    cells = dict(zip(header, [c.strip() for c in lines[2].strip('|').split('|')]))
    assert float(cells['fused img/s']) > 0 and cells['fused x'].endswith('x')
    row = report['rows'][0]
    assert float(cells['infer GMAC/s']) == pytest.approx(
        row['flops'][64] * row['infer']['images_per_s'] / 1e9, rel=0.06, abs=0.06)
    assert cells['train GMAC/s'] == '-'  # no train step in this run
    assert report['gemm']['gmac_per_s'] > 0 and 'GEMM: 1024x1024 fp32' in stdout
    (check, ) = report['variant_checks']
    assert check['variant'] == 'fused' and check['relative_error'] < 1e-5
    assert 'moganet_xt fused vs plain (fp32, eval): max relative difference' in stdout


def test_moganet_against_its_op_by_op_reference_across_memory_formats(bench, capsys):
    """The speed comparison of the MogaNet work: ours (both formats) against the op-by-op
    reference as the official code runs it (channels_first), with identical outputs."""
    report = bench.main([
        '--models', 'moganet_xt', 'moganet_xt_ref', '--memory-format', 'channels_first',
        'channels_last', '--peer-memory-format', 'channels_first', '--batch', '1', '--size', '64',
        '--dense-size', '64', '--iters', '1', '--warmup', '0', '--threads', '1', '--isolate',
        'none', '--no-cp-summary', '--gemm', '--gemm-size', '128', '--repeat', '2'
    ])
    stdout = capsys.readouterr().out
    ours = [r for r in report['rows'] if r['model'] == 'moganet_xt']
    assert [r['memory_format'] for r in ours] == ['channels_first', 'channels_last']
    assert all(r['peer'] == 'moganet_xt_ref' and r['ratio']['infer'] > 0 and r['ratio']['train'] > 0
               for r in ours)
    # both rows are divided by the reference's channels_first row
    ref = next(r for r in report['rows']
               if r['model'] == 'moganet_xt_ref' and r['memory_format'] == 'channels_first')
    for row in ours:
        assert row['ratio']['infer'] == pytest.approx(row['infer']['images_per_s'] /
                                                      ref['infer']['images_per_s'])
    assert '(the peer in channels_first)' in stdout and 'GEMM: 128x128' in stdout
    assert 'median of 2 interleaved rounds' in stdout
    for row in ours:  # every round's ratio, next to the table's ratio of the median rounds
        for mode in ('infer', 'train'):
            rounds = row[mode]['round_images_per_s']
            assert len(rounds) == 2 and min(rounds) == row[mode]['images_per_s']  # lower median
            assert row[mode]['spread'] == pytest.approx((max(rounds) - min(rounds)) / min(rounds))
            peer_rounds = ref[mode]['round_images_per_s']
            assert row['round_ratios'][mode] == pytest.approx(
                [a / b for a, b in zip(rounds, peer_rounds)])
    assert ('moganet_xt channels_last / moganet_xt_ref channels_first infer x, round by round: '
            in stdout)
    check = report['peer_checks'][0]
    assert check['checked'] and check['same'] and check['max_abs_diff'] < 1e-5
    with pytest.raises(SystemExit):
        bench.parse_args(['--models', 'moganet_xt', '--peer-memory-format', 'channels_last'])
    assert 'add it to --memory-format' in capsys.readouterr().err


def test_cpu_kernels_off_shows_the_switch_both_ways(bench, capsys):
    report = bench.main([
        '--models', 'moganet_xt', 'moganet_xt_ref', 'hornet_t_7x7', '--batch', '1', '--size', '64',
        '--dense-size', '64', '--iters', '1', '--warmup', '0', '--threads', '1', '--isolate',
        'none', '--no-cp-summary', '--no-output-check', '--no-flops', '--cpu-kernels-off'
    ])
    stdout = capsys.readouterr().out
    rows = {r['model']: r for r in report['rows']}
    ours = rows['moganet_xt']
    for mode in ('infer', 'train'):
        assert ours[f'{mode}_kernels_off']['images_per_s'] > 0
    # the reference and HorNet do not run the kernels: measured once
    assert 'infer_kernels_off' not in rows['moganet_xt_ref'] and 'infer_kernels_off' not in rows[
        'hornet_t_7x7']
    assert 'kernels off: infer img/s' in stdout and 'MMMOGA_CPU_KERNELS=0' in stdout


def test_measure_cpu_kernels_false_turns_them_off(monkeypatch):
    from mmmoga.devtools.benchmark import measure
    from mmmoga.models.layers import cpu_ops
    calls = []
    fused = cpu_ops.fused_conv_op
    monkeypatch.setattr(cpu_ops, 'fused_conv_op', lambda *args: calls.append(1) or fused(*args))
    spec = tiny_spec(memory_format='channels_last')
    measure(dict(spec, cpu_kernels=False))
    assert not calls
    measure(spec)
    assert calls  # control: on by default


def test_fp16_training_step_through_a_grad_scaler_at_a_dense_size(monkeypatch):
    scales = []
    scale = torch.amp.GradScaler.scale
    monkeypatch.setattr(torch.amp.GradScaler, 'scale',
                        lambda self, loss: scales.append(self.get_scale()) or scale(self, loss))
    result = benchmark.measure(tiny_spec(mode='train', dtype='fp16', size='64x96', iters=2))
    assert scales == [2.**16, 2.**16] or scales[0] == 2.**16, scales  # mmengine's initial scale
    assert result['images_per_s'] > 0 and len(result['ms_range']) == 2
    assert result['ms_range'][0] <= result['ms_median'] <= result['ms_range'][1]
    assert benchmark.image_size('800x1344') == (800, 1344) and benchmark.image_size(224) == (224,
                                                                                             224)
    assert benchmark.size_label([512, 512]) == '512' and benchmark.size_label('64x96') == '64x96'


def test_an_in_process_measurement_leaves_the_thread_count_as_it_found_it():
    """``measure`` runs at the spec's thread count; the caller's (a test, a notebook) is back
    afterwards, so later bit-exact comparisons in the same process see the threads they set."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        benchmark.measure(tiny_spec(threads=1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_gpu_table_settings_peers_baseline_and_dense_steps(bench, monkeypatch, capsys):
    """The GPU table's run (here with stand-in measurements): a row per Triton kernel setting for
    the models that have the kernels, one for the others; every row divided by its peer and by
    the baseline in the same dtype and format, dense steps included."""
    from mmmoga.devtools.benchmark import run as run_module
    specs = []

    def fake(spec, isolate, timeout=None, function=None):
        specs.append(spec)
        # ours 2x faster with the kernels on; the dense step 10 ms for ours, 20 for the others
        ours = spec['model'] == 'moganet_xt'
        rate = 100. * (2 if spec.get('gpu_kernels') else 1) if ours else 50.
        ms = (10. if ours else 20.) * (1 if spec['size'] == '800x1344' else 0.5)
        return dict(images_per_s=rate, ms_median=ms, peak_mb=1., ms_per_step=ms)

    monkeypatch.setattr(run_module, 'run_measurement', fake)
    report = bench.main([
        '--models', 'moganet_xt', 'moganet_xt_ref', '--baseline', 'convnext_t', '--dtype', 'bf16',
        'fp16', '--gpu-kernels', 'both', '--dense-steps', '800x1344', '512x512', '--no-flops',
        '--no-output-check', '--no-cp-summary', '--markdown'
    ])
    stdout = capsys.readouterr().out
    rows = [(r['model'], r['dtype'], r['gpu_kernels']) for r in report['rows']]
    assert rows == [('moganet_xt', d, k) for d in ('bf16', 'fp16')
                    for k in (False, True)] + [(m, d, None)
                                               for m in ('moganet_xt_ref', 'convnext_t')
                                               for d in ('bf16', 'fp16')]
    assert {s['gpu_kernels'] for s in specs if 'gpu_kernels' in s} == {False, True}
    assert all('gpu_kernels' not in s for s in specs if s['model'] != 'moganet_xt')
    dense = [s for s in specs if s['size'] in ('800x1344', '512')]
    assert {(s['batch'], s['mode']) for s in dense} == {(2, 'train')} and len(dense) == 16
    for row in report['rows'][:4]:
        on = 2. if row['gpu_kernels'] else 1.
        assert row['peer'] == 'moganet_xt_ref' and row['ratio']['train'] == 2 * on
        assert row['ratio']['dense'] == {'800x1344': 2., '512': 2.}
        assert row['baseline'] == 'convnext_t'
        assert row['baseline_ratio'] == dict(train=2 * on, dense={'800x1344': 2., '512': 2.})
    header = next(ln for ln in stdout.splitlines() if ln.startswith('| model'))
    for column in ('kernels', 'dense ms@800x1344', 'dense x@512', 'train x convnext_t',
                   'dense x@800x1344 convnext_t'):
        assert f'| {column} |' in header
    assert 'GradScaler' in stdout and 'kernels = mmmoga\'s Triton kernels' in stdout


@pytest.mark.parametrize('model', ['moganet_xt', 'hornet_t_gf', 'conv2former_n', 'inceptionnext_a'])
def test_every_family_with_kernels_is_checked_against_its_reference_ops(model):
    """Each family's ``_ref`` model (``reference_ops=True``) is its default peer, and gets the
    identical-output check (the weights copied by key)."""
    reference = f'{model}_ref'
    assert benchmark.BENCHMARK_MODELS[reference].source == 'mmmoga'
    assert benchmark.default_peer(model, [model, reference, 'convnext_t']) == reference
    result = benchmark.check_same_output(model, reference, 64)
    assert result['checked'] and result['same'], result
    # control: another family's layout has no transfer, so nothing is compared
    assert benchmark.weight_transfer(model, 'convnext_t') is None
