"""The GPU check (``tools/analysis/gpu_check.py``, :mod:`mmmoga.devtools.benchmark.gpu_check`) on
the CPU: its smoke run starts and finishes where OpenCV, mmcv and the task libraries cannot be
imported (as on the offline GPU host), a row whose worker dies costs that row only, the budget
holds, and the plan fits its minutes."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from without_task_libraries import finder_code

from mmmoga.devtools.benchmark import gpu_check

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: what the GPU host lacks: OpenCV (mmengine's hooks import it), mmcv and the task libraries
BLOCKED = ('cv2', 'mmcv', 'mmdet', 'mmseg', 'mmpose', 'mmpretrain')


@pytest.fixture(scope='module')
def blocked_env(tmp_path_factory):
    """An environment whose every Python process (the check's workers too) finds OpenCV, mmcv
    and the task libraries missing: a ``sitecustomize`` with the import blocker first on the
    path."""
    site = tmp_path_factory.mktemp('blocked_site')
    (site / 'sitecustomize.py').write_text(finder_code(BLOCKED))
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(site), ROOT, env.get('PYTHONPATH', '')])
    env.pop('TRITON_INTERPRET', None)  # the check sets it for its kernel worker on the CPU
    return env


def test_the_blocker_hides_opencv_and_the_task_libraries(blocked_env, tmp_path):
    """Control: in that environment each of them fails to import as a missing package does."""
    code = ('import importlib\nfor name in %r:\n    try:\n        importlib.import_module(name)\n'
            '    except ModuleNotFoundError as error:\n        print(name, error.name)\n') % (
                BLOCKED, )
    out = subprocess.run([sys.executable, '-c', code],
                         env=blocked_env,
                         cwd=tmp_path,
                         capture_output=True,
                         text=True,
                         check=True).stdout.split('\n')
    assert [line.split()[0] for line in out if line] == list(BLOCKED)


@pytest.fixture(scope='module')
def smoke_run(blocked_env, tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_check')
    result = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis', 'gpu_check.py'), '--device', 'cpu', '--smoke', '--out',
        str(out / 'results.jsonl'), '--markdown',
        str(out / 'table.md'), '--budget', '600'
    ],
                            env=blocked_env,
                            cwd=out,
                            capture_output=True,
                            text=True,
                            timeout=900)
    return result, gpu_check.read_results(str(out / 'results.jsonl')), (out / 'table.md')


def test_the_smoke_run_passes_without_opencv_mmcv_and_the_task_libraries(smoke_run):
    """``gpu_check.py --device cpu --smoke``: every row of the plan has its result, none an
    error; the kernels match float64 PyTorch; every form of every model computes the official
    function; every measurement has a rate, a time and a peak."""
    result, records, table = smoke_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '[gpu_check] plan (smoke)' in result.stdout.splitlines()[0]
    rows = [r for r in records if r.get('kind') in ('kernel', 'numerics', 'measure')]
    planned = gpu_check.rows_of(list(gpu_check.MODELS), 'smoke')
    assert len(rows) == len(planned)
    assert [r for r in rows if 'error' in r or r.get('skipped')] == []
    kernels = [r for r in rows if r['kind'] == 'kernel']
    assert kernels and all(r['ok'] for r in kernels)
    numerics = [r for r in rows if r['kind'] == 'numerics']
    assert {r['model'] for r in numerics} == set(gpu_check.MODELS)
    assert all(r['differs'] == [] for r in numerics)
    measured = [r for r in rows if r['kind'] == 'measure']
    assert {r['form'] for r in measured} == {'baseline', *gpu_check.FORMS}
    assert all(r['images_per_s'] > 0 and r['ms_median'] > 0 and r['peak_mb'] >= 0 for r in measured)
    environment = next(r for r in records if r.get('kind') == 'environment')
    assert environment['cudnn_benchmark'] is False and environment['timm'][0].isdigit()
    text = table.read_text()
    assert f'Kernels: {len(kernels)} of {len(kernels)} cases match' in text
    assert '| MogaNet-S | config (channels-last, fast ops) | fp32 |' in text
    assert '| HorNet-T 7x7 | config (fast ops) | fp32 |' in text  # channels-first on CPU


def test_a_worker_that_dies_costs_its_row_only(tmp_path, monkeypatch):
    """A row that takes its worker down (as an illegal memory access does) is that row's error;
    a fresh worker measures the rows after it, and the results file holds every row."""
    crash = (
        "import os, sys; from mmmoga.devtools.benchmark import gpu_check as g; real = g._measure; "
        "g._measure = lambda row, s, d: os._exit(7) if row['form'] == 'ours-nchw' and "
        "row['dtype'] == 'fp32' and row['what'] == 'train' else real(row, s, d); "
        "g.worker(*sys.argv[1:])")
    monkeypatch.setattr(gpu_check, 'WORKER_CODE', crash)
    rows = [
        r for r in gpu_check.rows_of(['inceptionnext_t'], 'smoke')
        if r['kind'] == 'measure' and r['model'] == 'inceptionnext_t' and r['form'] in ('official',
                                                                                        'ours-nchw')
    ]
    out = gpu_check.ResultsFile(str(tmp_path / 'results.jsonl'))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    gpu_check.run_job(rows, 'smoke', 'cpu', gpu_check.time.time() + 300, out, env, [])
    out.close()
    records = gpu_check.read_results(str(tmp_path / 'results.jsonl'))
    assert len(records) == len(rows) == 8
    failed = [r for r in records if 'error' in r]
    assert [(r['form'], r['dtype'], r['what']) for r in failed] == [('ours-nchw', 'fp32', 'train')]
    assert 'the worker died (exit 7)' in failed[0]['error']
    assert all(r['images_per_s'] > 0 for r in records if 'error' not in r)
    table = gpu_check.report_markdown(records)
    assert 'error: the worker died (exit 7)' in table


def test_rows_beyond_the_budget_are_skipped_and_listed(tmp_path):
    rows = [r for r in gpu_check.rows_of(['moganet_s'], 'smoke') if r['kind'] == 'measure'][:3]
    out = gpu_check.ResultsFile(str(tmp_path / 'results.jsonl'))
    gpu_check.run_job(rows, 'smoke', 'cpu', gpu_check.time.time() - 1, out, dict(os.environ), [])
    out.close()
    records = gpu_check.read_results(str(tmp_path / 'results.jsonl'))
    assert [r.get('skipped') for r in records] == ['budget'] * 3
    assert 'Skipped for the time budget: 3 rows' in gpu_check.report_markdown(records)


def test_a_killed_runs_file_keeps_its_complete_lines(tmp_path):
    path = tmp_path / 'results.jsonl'
    path.write_text(json.dumps(dict(kind='run', mode='full')) + '\n{"kind": "meas')
    assert gpu_check.read_results(str(path)) == [dict(kind='run', mode='full')]


def test_the_plan_fits_the_budget_before_the_triton_forms():
    """The default run's estimate: everything but the Triton forms (the first to be skipped)
    fits the default budget, and the plan names every job."""
    rows = gpu_check.rows_of(list(gpu_check.MODELS), 'full')
    text, total = gpu_check.plan(rows, 'full')
    main = [r for r in rows if r['job'] != 'ours-nhwc-triton']
    _, main_total = gpu_check.plan(main, 'full')
    assert main_total <= gpu_check.DEFAULT_BUDGET_S < total
    for job in ['kernels', gpu_check.BASELINE, *gpu_check.MODELS, 'ours-nhwc-triton']:
        assert f'  {job} ' in text
    assert rows[0]['kind'] == 'kernel' and rows[-1]['job'] == 'ours-nhwc-triton'


def test_the_numerics_turn_tf32_off_for_themselves_only(monkeypatch):
    """The numerics compare in fp32 with TF32 off; the measurements after them in the same worker
    train with PyTorch's settings as they were (as a config trains)."""
    import torch
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    seen = []
    real = gpu_check._compare_forms

    def compare(*args):
        seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return real(*args)

    monkeypatch.setattr(gpu_check, '_compare_forms', compare)
    row = dict(kind='numerics', job='m', model='inceptionnext_t', forms=['official', 'ours-nhwc'])
    settings = dict(gpu_check.SETTINGS['smoke'], mode='smoke')
    try:
        result = gpu_check._numerics(row, settings, torch.device('cpu'))
        assert seen == [(False, False)] and result['differs'] == []
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_docs_show_the_plan_of_the_default_run():
    """docs/gpu.md shows the plan the default run prints (it changes with the models, forms,
    settings and estimates)."""
    text, _ = gpu_check.plan(gpu_check.rows_of(list(gpu_check.MODELS), 'full'), 'full')
    with open(osp.join(ROOT, 'docs', 'gpu.md')) as f:
        assert text in f.read()
