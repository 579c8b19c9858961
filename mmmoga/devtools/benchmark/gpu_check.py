"""The GPU check behind ``tools/analysis/gpu_check.py``: one command that measures, within a few
minutes of a GPU, everything the GPU defaults are decided on.

Steps, each in a worker process of its own (an error in a row, even one that takes the process
down, such as a Triton failure, an illegal memory access or running out of memory, is reported as
that row's error; a fresh worker goes on with the rows after it):

1. **kernels**: every case of :mod:`.kernel_check` (each Triton kernel against float64 PyTorch,
   outputs and gradients, fp32/fp16/bf16, both layouts, several tiles), compiled for the GPU;
2. per model (:data:`MODELS`, then timm's ConvNeXt-T, :data:`BASELINE`):

   * **numerics**: in fp32 with TF32 off, the outputs and input gradients of every form of ours
     against the official op sequence in NCHW, same weights;
   * **measure**, for every form (:data:`FORMS`) and dtype (fp32 with PyTorch's default TF32
     settings, as a config trains, and bf16 autocast): a training step at 224 (images/s and peak
     memory) and a dense training step at batch 2, 800x1344 (median ms and peak memory), with
     ``torch.backends.cudnn.benchmark = False`` (mmdet's, mmpretrain's and mmpose's configs;
     mmseg's set True), labelled in every row.

The plan and its time estimate are printed first (:func:`plan`); rows whose estimate no longer
fits the ``budget`` are skipped and listed. Every result is one JSON line of the ``--out`` file,
written as it arrives (a killed run keeps what it measured); the report (:func:`report_markdown`)
comes last, and from a results file alone (:func:`read_results`).
"""
import contextlib
import datetime
import json
import os
import os.path as osp
import platform
import selectors
import statistics
import subprocess
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from mmmoga.models import create_backbone
from mmmoga.models.factory import BACKBONES
from mmmoga.models.layers import gpu_kernels, gpu_ops
from mmmoga.registry import MODELS as REGISTRY
from .. import PACKAGE_PARENT
from .kernel_check import KERNEL_CASES, check_kernel_case, kernel_cases
from .measure import time_steps, training_step
from .report import git_commit

#: the models measured, as :func:`mmmoga.create_backbone` names them -> their label
MODELS = {
    'moganet_s': 'MogaNet-S',
    'hornet_t_7x7': 'HorNet-T 7x7',
    'hornet_t_gf': 'HorNet-T GF',
    'conv2former_t': 'Conv2Former-T',
    'inceptionnext_t': 'InceptionNeXt-T',
}
#: the baseline (timm's ConvNeXt-T, 4 stage outputs, NCHW)
BASELINE = 'convnext_tiny'
#: the forms of our backbones: what each one builds (``gpu_kernels``: the Triton kernels switched
#: on, only for families that have them)
FORMS = {
    'official': dict(channels_last=False, reference_ops=True),
    'config': dict(channels_last=None, reference_ops=None),
    'ours-nchw': dict(channels_last=False, reference_ops=False),
    'ours-nhwc': dict(channels_last=True, reference_ops=False),
    'ours-nhwc-triton': dict(channels_last=True, reference_ops=False, gpu_kernels=True),
}
DTYPES = ('fp32', 'bf16')
#: the sizes and step counts of a full run and of ``smoke`` (tiny inputs, one step: every code path
#: in seconds, on the CPU too)
SETTINGS = {
    'full':
    dict(
        batch=128,
        size=224,
        dense_batch=2,
        dense_size=(800, 1344),
        warmup=2,
        iters=5,
        dense_warmup=2,
        dense_iters=5,
        numerics_batch=2,
        numerics_size=224,
        kernel_scale='gpu'),
    'smoke':
    dict(
        batch=2,
        size=32,
        dense_batch=1,
        dense_size=(64, 64),
        warmup=0,
        iters=1,
        dense_warmup=0,
        dense_iters=1,
        numerics_batch=1,
        numerics_size=32,
        kernel_scale='smoke'),
}
#: ``smoke``: each family at a narrow arch with one block a stage (the same code paths, built in
#: milliseconds; the Triton kernels run in the interpreter on CPU)
SMOKE_ARCHS = {
    'MogaNet':
    dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1], ffn_ratios=[2, 2, 2, 2]),
    'HorNet':
    dict(embed_dims=[8, 16, 32, 64], depths=[1, 1, 1, 1], orders=[2, 3, 4, 5]),
    'Conv2Former':
    dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1], mlp_ratios=[2, 2, 2, 2], kernel_size=11),
    'InceptionNeXt':
    dict(
        embed_dims=[8, 16, 32, 64],
        depths=[1, 1, 1, 1],
        mlp_ratios=[2, 2, 2, 2],
        band_kernel_size=11,
        branch_ratio=0.125),
}
#: one NVIDIA H200, torch 2.11, bf16 autocast, channels-last tensors: training images/s at 224 and
#: the dense step in ms (official op sequence / mmmoga), the figures the estimate starts from
#: (measured without this check, commit not recorded: docs/gpu.md, "Defaults on CUDA")
H200_BF16 = {
    'convnext_tiny': (2632, 28),
    'moganet_s': (810, 126),
    'hornet_t_7x7': (1184, 105),
    'hornet_t_gf': (816, 151),
    'conv2former_t': (551, 103),
    'inceptionnext_t': (2597, 54),
}
#: what the estimate assumes besides: fp32 (TF32 convolutions) at half the bf16 rate; a worker's
#: start (interpreter, torch, CUDA context, model builds); a Triton compile per kernel
#: specialisation; the kernel step
ESTIMATE = dict(
    fp32_slowdown=2.0, worker_start_s=8.0, triton_compiles_s=30.0, kernels_s=60.0, numerics_s=2.0)
#: keep the whole run under this many seconds (a GPU lent for a quarter of an hour fits a rerun)
DEFAULT_BUDGET_S = 330
RESULT_TAG = 'GPU_CHECK '


def uses_gpu_kernels(model: str) -> bool:
    """Whether the family of ``model`` has Triton kernels (its ``-triton`` form is measured)."""
    return REGISTRY.get(BACKBONES[model][0]).uses_gpu_kernels


# ----------------------------------------------------------------------------------------- plan
def rows_of(models: Sequence[str], mode: str) -> List[dict]:
    """The rows of a run, in the order of their priority: the kernel cases; the baseline (so that
    every later row has it to compare with); per model its numerics and its measurements in every
    form but the Triton one; last, in one worker, the Triton forms (the first rows to go when the
    budget runs short)."""
    settings = SETTINGS[mode]
    rows = [
        dict(kind='kernel', job='kernels', case=case)
        for case in kernel_cases(settings['kernel_scale'])
    ]
    rows += [
        dict(kind='measure', job=BASELINE, model=BASELINE, form='baseline', dtype=dtype, what=what)
        for dtype in DTYPES for what in ('train', 'dense')
    ]
    triton = 'ours-nhwc-triton'
    for model in models:
        forms = [f for f in FORMS if f != triton]
        rows.append(dict(kind='numerics', job=model, model=model, forms=forms))
        rows += [
            dict(kind='measure', job=model, model=model, form=form, dtype=dtype, what=what)
            for form in forms for dtype in DTYPES for what in ('train', 'dense')
        ]
    for model in (m for m in models if uses_gpu_kernels(m)):
        rows.append(dict(kind='numerics', job=triton, model=model, forms=['official', triton]))
        rows += [
            dict(kind='measure', job=triton, model=model, form=triton, dtype=dtype, what=what)
            for dtype in DTYPES for what in ('train', 'dense')
        ]
    return rows


def estimate_s(row: dict, mode: str) -> float:
    """Seconds a row is expected to take on one H100 or H200 (from :data:`H200_BF16`; a smoke run
    counts a second a row)."""
    if mode == 'smoke':
        return 1.0
    settings = SETTINGS[mode]
    if row['kind'] == 'kernel':
        return ESTIMATE['kernels_s'] / len(KERNEL_CASES)
    if row['kind'] == 'numerics':
        return ESTIMATE['numerics_s'] * len(row['forms'])
    rate, dense_ms = H200_BF16[row['model']]
    slowdown = ESTIMATE['fp32_slowdown'] if row['dtype'] == 'fp32' else 1.0
    if row['what'] == 'train':
        seconds = (settings['warmup'] + settings['iters']) * settings['batch'] / rate * slowdown
    else:
        seconds = (settings['dense_warmup'] + settings['dense_iters']) * dense_ms / 1000 * slowdown
    if row['form'] == 'ours-nhwc-triton':
        seconds += ESTIMATE['triton_compiles_s'] / 4  # spread over the form's four rows
    return seconds


def plan(rows: Sequence[dict], mode: str) -> Tuple[str, float]:
    """The plan as text, and the estimated seconds of the whole run (worker starts included)."""
    jobs: Dict[str, float] = {}
    for row in rows:
        jobs[row['job']] = jobs.get(row['job'], 0.0) + estimate_s(row, mode)
    start = ESTIMATE['worker_start_s'] if mode == 'full' else 3.0
    total = sum(jobs.values()) + start * len(jobs)
    settings = SETTINGS[mode]
    where = ('on one H100/H200 (from H200 figures: bf16 training at 224 and the dense step; '
             f'fp32 at {1 / ESTIMATE["fp32_slowdown"]:.2g}x; {start:.0f} s a worker start)'
             if mode == 'full' else '(a second a row)')
    lines = [
        f'[gpu_check] plan ({mode}): {len(rows)} rows in {len(jobs)} workers, estimated '
        f'{total / 60:.1f} min {where}',
        f'  kernels: {sum(r["kind"] == "kernel" for r in rows)} cases against float64 PyTorch, '
        f'compiled for the device',
        f'  measure: training step at {settings["size"]} (batch {settings["batch"]}, '
        f'{settings["warmup"]} + {settings["iters"]} steps) and dense step at batch '
        f'{settings["dense_batch"]}, {settings["dense_size"][0]}x{settings["dense_size"][1]} '
        f'({settings["dense_warmup"]} + {settings["dense_iters"]} steps), dtypes '
        f'{", ".join(DTYPES)}; cudnn.benchmark=False',
    ]
    for job, seconds in jobs.items():
        forms = list(
            dict.fromkeys(r['form'] for r in rows if r['job'] == job and r['kind'] == 'measure'))
        lines.append(f'  {job:16s} ~{seconds + start:5.0f} s' +
                     (f'  forms: {", ".join(forms)}' if forms and job != 'kernels' else ''))
    return '\n'.join(lines), total


# --------------------------------------------------------------------------------------- worker
def _build(model: str, form: str, device, mode: str):
    """A model of the run in train mode on ``device`` (seed 0: every form gets the same weights);
    in ``smoke`` mode at the family's :data:`SMOKE_ARCHS`."""
    torch.manual_seed(0)
    if model == BASELINE:
        import timm
        net = timm.create_model(
            BASELINE, pretrained=False, features_only=True, out_indices=(0, 1, 2, 3))
        return net.to(device).train()
    kwargs = {k: v for k, v in FORMS[form].items() if k != 'gpu_kernels'}
    if mode == 'smoke':
        family, arguments = BACKBONES[model]
        arguments = dict(arguments, arch=SMOKE_ARCHS[family], **kwargs)
        net = REGISTRY.get(family)(out_indices=(0, 1, 2, 3), **arguments)
    else:
        net = create_backbone(model, out_indices=(0, 1, 2, 3), **kwargs)
    return net.to(device).train()


def _switches(form: str, dtype: Optional[str], device):

    stack = contextlib.ExitStack()
    if form in FORMS:
        stack.enter_context(gpu_kernels(bool(FORMS[form].get('gpu_kernels'))))
    if dtype == 'bf16':
        stack.enter_context(torch.autocast(device.type, dtype=torch.bfloat16))
    return stack


def _measure(row: dict, settings: dict, device) -> dict:
    """One training-step measurement (``what``: ``train`` at the run's size, ``dense`` at the
    dense size)."""

    net = _build(row['model'], row['form'], device, settings['mode'])
    if row['what'] == 'train':
        batch, size = settings['batch'], (settings['size'], settings['size'])
        warmup, iters = settings['warmup'], settings['iters']
    else:
        batch, size = settings['dense_batch'], settings['dense_size']
        warmup, iters = settings['dense_warmup'], settings['dense_iters']
    x = torch.randn(batch, 3, *size, device=device)
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        with _switches(row['form'], row['dtype'], device):
            outs = net(x)
        training_step(sum(o.float().mean() for o in outs), optimizer)

    timing = time_steps(step, iters, warmup, device)
    result = dict(
        batch=batch,
        size=list(size),
        iters=iters,
        warmup=warmup,
        ms_median=statistics.median(timing['step_ms']),
        images_per_s=batch * iters / timing['elapsed_s'],
        peak_mb=timing['peak_mb'],
        memory_method=timing['memory_method'])
    if device.type == 'cuda':
        result['tf32'] = dict(
            matmul=torch.backends.cuda.matmul.allow_tf32, cudnn=torch.backends.cudnn.allow_tf32)
    if FORMS.get(row['form'], {}).get('gpu_kernels'):
        result['kernels_failure'] = gpu_ops.gpu_kernels_failure()  # None: the kernels ran
    if hasattr(net, 'computes_channels_last'):
        probe = x[:1]
        with _switches(row['form'], row['dtype'], device):
            result['computed'] = dict(
                channels_last=net.computes_channels_last(probe), fast_ops=net.uses_fast_ops(probe))
    return result


def _numerics(row: dict, settings: dict, device) -> dict:
    """Every form's outputs and input gradients against the official op sequence in NCHW (same
    weights), fp32 with TF32 off; ``differs`` names the forms beyond 1e-4 (relative to the
    reference's largest magnitude)."""
    flags = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        return _compare_forms(row, settings, device)
    finally:  # the measurements after it train with PyTorch's defaults, as a config does
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


def _compare_forms(row: dict, settings: dict, device) -> dict:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(
        settings['numerics_batch'],
        3,
        settings['numerics_size'],
        settings['numerics_size'],
        generator=generator).to(device)
    weights = None
    results = {}
    reference = None
    for form in ['official'] + [f for f in row['forms'] if f != 'official']:
        net = _build(row['model'], form, device, settings['mode']).eval()
        if weights is None:
            weights = net.state_dict()
        else:
            net.load_state_dict(weights)
        inputs = x.clone().requires_grad_()
        with _switches(form, None, device):
            outs = net(inputs)
        projection = [torch.linspace(-1, 1, o.numel(), device=device).view_as(o) for o in outs]
        sum((o * p).sum() for o, p in zip(outs, projection)).backward()
        current = [o.detach() for o in outs] + [inputs.grad]
        if reference is None:
            reference = current
            continue
        errors = [((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
                  for a, b in zip(current, reference)]
        results[form] = dict(output=max(errors[:-1]), input_grad=errors[-1])
    differs = sorted(f for f, e in results.items() if not max(e.values()) <= 1e-4)
    return dict(relative_error=results, differs=differs, tolerance=1e-4)


def _environment(device) -> dict:
    info = dict(
        device=str(device),
        torch=torch.__version__,
        python=platform.python_version(),
        cudnn_benchmark=False)
    if device.type == 'cuda':
        info.update(
            gpu=torch.cuda.get_device_name(device),
            cuda=torch.version.cuda,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32)
    for name in ('triton', 'timm'):
        try:
            info[name] = __import__(name).__version__
        except Exception as error:  # noqa: BLE001
            info[name] = f'unavailable ({type(error).__name__})'
    return info


def worker(rows_json: str, mode: str, device: str) -> None:
    """Run ``rows`` (a JSON list) one by one, printing ``GPU_CHECK {"start": i}`` before and the
    result after each row (``GPU_CHECK {...}``); an exception becomes the row's error."""
    rows = json.loads(rows_json)
    device = torch.device(device)
    settings = dict(SETTINGS[mode], mode=mode)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = False  # as the detection and classification configs
    print(RESULT_TAG + json.dumps(dict(environment=_environment(device))), flush=True)
    for index, row in enumerate(rows):
        print(RESULT_TAG + json.dumps(dict(start=index)), flush=True)
        started = time.perf_counter()
        try:
            if row['kind'] == 'kernel':
                result = check_kernel_case(row['case'], str(device))
            elif row['kind'] == 'numerics':
                result = _numerics(row, settings, device)
            else:
                result = _measure(row, settings, device)
        except Exception as error:  # noqa: BLE001 (the row's error; the next row runs)
            result = dict(error=f'{type(error).__name__}: {error}'.strip().splitlines()[0][:400])
        if device.type == 'cuda':
            torch.cuda.empty_cache()
        result['seconds'] = time.perf_counter() - started
        print(RESULT_TAG + json.dumps(dict(done=index, result=result)), flush=True)


WORKER_CODE = ('import sys; from mmmoga.devtools.benchmark.gpu_check import worker; '
               'worker(*sys.argv[1:])')


# ----------------------------------------------------------------------------------------- run
def _row_key(row: dict) -> dict:
    key = {k: v for k, v in row.items() if k not in ('job', 'case', 'forms')}
    if row['kind'] == 'kernel':
        key['case'] = row['case']['name']
    return key


class ResultsFile:
    """The JSON-lines file of a run: one line per result, flushed as it is written."""

    def __init__(self, path: str):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.path = path
        self.file = open(path, 'w')

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + '\n')
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


def _log(message: str) -> None:
    print(message, flush=True)


def run_job(job_rows: List[dict], mode: str, device: str, deadline: float, out: ResultsFile,
            env: dict, environments: List[dict]) -> None:
    """Run a job's rows in workers: a worker that dies (or runs past a row's limit) costs the
    row it was in, which becomes an error row; a fresh worker goes on from the next row."""
    pending = list(job_rows)
    while pending:
        left = deadline - time.time()
        fits = []
        for row in pending:  # the rows whose estimate still fits, in order
            left -= estimate_s(row, mode)
            if left < 0:
                break
            fits.append(row)
        for row in pending[len(fits):]:
            out.write(dict(_row_key(row), skipped='budget'))
        if not fits:
            return
        pending = fits
        worker_env = dict(env)
        if device == 'cpu' and pending[0]['kind'] == 'kernel':
            # the kernel cases on CPU tensors, in Triton's interpreter (the model rows' kernels
            # would take minutes there: on the CPU they run the plain ops)
            worker_env['TRITON_INTERPRET'] = '1'
        proc = subprocess.Popen(
            [sys.executable, '-c', WORKER_CODE,
             json.dumps(pending), mode, device],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=worker_env,
            cwd=PACKAGE_PARENT)
        current, done = None, set()
        row_limit = max(60.0, 4 * max(estimate_s(r, mode) for r in pending) + 60)
        row_started = time.time()
        stderr_tail: List[str] = []
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        selector.register(proc.stderr, selectors.EVENT_READ)
        open_streams = 2
        stopped = None
        while open_streams:
            if time.time() - row_started > row_limit:
                stopped = f'timed out after {row_limit:.0f} s'
            elif time.time() > deadline:
                stopped = 'stopped: the time budget ran out'
            if stopped:
                proc.kill()
                break
            for key, _ in selector.select(timeout=1.0):
                line = key.fileobj.readline()
                if not line:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                if key.fileobj is proc.stderr:
                    stderr_tail = (stderr_tail + [line.rstrip()])[-20:]
                    continue
                if not line.startswith(RESULT_TAG):
                    continue
                message = json.loads(line[len(RESULT_TAG):])
                if 'environment' in message:
                    environments.append(message['environment'])
                elif 'start' in message:
                    current, row_started = message['start'], time.time()
                elif 'done' in message:
                    row = pending[message['done']]
                    record = dict(_row_key(row), **message['result'])
                    out.write(record)
                    done.add(message['done'])
                    _log(_one_line(record))
        proc.wait()
        if len(done) == len(pending):
            return
        if current is None or current in done:
            current = min(set(range(len(pending))) - done)
        why = stopped or (f'the worker died (exit {proc.returncode}): ' +
                          ' | '.join(line for line in stderr_tail[-3:] if line.strip()))
        record = dict(_row_key(pending[current]), error=why[:600])
        out.write(record)
        _log(_one_line(record))
        pending = pending[current + 1:]


def _one_line(record: dict) -> str:
    what = ' '.join(
        str(record.get(k)) for k in ('kind', 'model', 'form', 'dtype', 'what', 'case')
        if record.get(k) is not None)
    if 'error' in record:
        return f'[gpu_check] {what}: ERROR {record["error"]}'
    if record.get('kind') == 'kernel':
        verdict = 'ok' if record['ok'] else f'FAILED {record["problems"]}'
        return f'[gpu_check] {what}: {verdict}'
    if record.get('kind') == 'numerics':
        return f'[gpu_check] {what}: differs {record["differs"] or "none"}'
    return (
        f'[gpu_check] {what}: {record["images_per_s"]:.1f} img/s, {record["ms_median"]:.1f} ms, '
        f'peak {record["peak_mb"]:.0f} MB')


def run_gpu_check(device: str = 'cuda',
                  mode: str = 'full',
                  models: Optional[Sequence[str]] = None,
                  out: str = 'work_dirs/gpu_check/results.jsonl',
                  markdown: Optional[str] = 'work_dirs/gpu_check/table.md',
                  budget_s: float = DEFAULT_BUDGET_S,
                  commit: Optional[str] = None) -> List[dict]:
    """Run the check (see the module docstring); returns its records."""
    models = list(models or MODELS)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f'unknown model(s) {unknown}; the check measures {list(MODELS)}')
    if mode not in SETTINGS:
        raise ValueError(f'mode must be one of {list(SETTINGS)}, got {mode!r}')
    start = time.time()
    rows = rows_of(models, mode)
    text, total = plan(rows, mode)
    _log(text)
    if total > budget_s:
        _log(f'[gpu_check] the estimate exceeds the budget of {budget_s:.0f} s: the rows that no '
             f'longer fit are skipped and listed')
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = PACKAGE_PARENT + os.pathsep + env.get('PYTHONPATH', '')
    results = ResultsFile(out)
    results.write(
        dict(
            kind='run',
            date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            commit=commit or git_commit(),
            mode=mode,
            device=device,
            host=platform.node(),
            budget_s=budget_s,
            estimate_s=round(total),
            command=' '.join([osp.basename(sys.argv[0])] + sys.argv[1:])))
    environments: List[dict] = []
    deadline = start + budget_s
    jobs: Dict[str, List[dict]] = {}
    for row in rows:
        jobs.setdefault(row['job'], []).append(row)
    for job_rows in jobs.values():
        run_job(job_rows, mode, device, deadline, results, env, environments)
    if environments:
        results.write(dict(kind='environment', **environments[0]))
    results.write(dict(kind='end', seconds=round(time.time() - start, 1)))
    results.close()
    records = read_results(out)
    table = report_markdown(records)
    if markdown:
        os.makedirs(osp.dirname(osp.abspath(markdown)), exist_ok=True)
        with open(markdown, 'w') as f:
            f.write(table)
    _log(table)
    _log(f'[gpu_check] {time.time() - start:.0f} s in all; results in {out}' +
         (f', table in {markdown}' if markdown else ''))
    return records


# -------------------------------------------------------------------------------------- report
def read_results(path: str) -> List[dict]:
    """The records of a results file (a line cut short by a kill is left out)."""
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def _fmt(value: Optional[float], digits: int = 0) -> str:
    return '-' if value is None else f'{value:,.{digits}f}'


def _ratio(value: Optional[float], reference: Optional[float]) -> str:
    if not value or not reference:
        return '-'
    return f'{value / reference:.2f}x'


def report_markdown(records: Iterable[dict]) -> str:
    """The run's tables: the kernel cases, the numerics, and per model and dtype the training
    rate at 224, the dense step and peak memory, against the official op sequence and ConvNeXt-T."""
    records = list(records)
    run = next((r for r in records if r.get('kind') == 'run'), {})
    environment = next((r for r in records if r.get('kind') == 'environment'), {})
    end = next((r for r in records if r.get('kind') == 'end'), {})
    lines = [
        f'GPU check, {run.get("date", "?")}, commit {run.get("commit", "?")}, '
        f'{environment.get("gpu", environment.get("device", "?"))}, torch '
        f'{environment.get("torch", "?")} (CUDA {environment.get("cuda", "-")}), Triton '
        f'{environment.get("triton", "?")}, timm {environment.get("timm", "?")}; mode '
        f'{run.get("mode", "?")}; {_fmt(end.get("seconds"))} s in all; cudnn.benchmark=False; '
        f'fp32 with TF32 convolutions {"on" if environment.get("tf32_cudnn") else "off"} and TF32 '
        f'matmuls {"on" if environment.get("tf32_matmul") else "off"} (PyTorch\'s defaults); one '
        f'round.',
        f'Command: `{run.get("command", "?")}`',
        '',
    ]
    kernels = [r for r in records if r.get('kind') == 'kernel']
    if kernels:
        bad = [r for r in kernels if 'error' in r or not r.get('ok')]
        lines.append(f'Kernels: {len(kernels) - len(bad)} of {len(kernels)} cases match float64 '
                     f'PyTorch (outputs and gradients).')
        for r in bad:
            lines.append(f'- {r.get("case")}: {r.get("error") or "; ".join(r.get("problems", []))}')
        lines.append('')
    numerics = [r for r in records if r.get('kind') == 'numerics']
    if numerics:
        lines += [
            'Numerics (fp32, TF32 off, same weights; max |ours - official| / max |official|):',
            '',
            '| model | form | outputs | input gradient | same |',
            '| --- | --- | ---: | ---: | --- |',
        ]
        for r in numerics:
            if 'error' in r:
                lines.append(f'| {MODELS.get(r["model"], r["model"])} | - | - | - | '
                             f'error: {r["error"]} |')
                continue
            for form, errors in r['relative_error'].items():
                lines.append(f'| {MODELS.get(r["model"], r["model"])} | {form} | '
                             f'{errors["output"]:.1e} | {errors["input_grad"]:.1e} | '
                             f'{"no" if form in r["differs"] else "yes"} |')
        lines.append('')
    measured = {
        (r['model'], r['form'], r['dtype'], r['what']): r
        for r in records if r.get('kind') == 'measure'
    }
    if measured:
        lines += [
            '| model | form | dtype | train img/s | dense ms | train peak MB | dense peak MB | '
            'train x official | dense x official | train mem x official | train x ConvNeXt-T |',
            '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ]
        models = [BASELINE] + [m for m in MODELS if any(k[0] == m for k in measured)]
        for model in models:
            for form in ['baseline'] + list(FORMS):
                for dtype in DTYPES:
                    train = measured.get((model, form, dtype, 'train'))
                    dense = measured.get((model, form, dtype, 'dense'))
                    if train is None and dense is None:
                        continue
                    lines.append(_measure_line(model, form, dtype, train, dense, measured))
        lines.append('')
    skipped = [r for r in records if r.get('skipped')]
    if skipped:
        lines.append(f'Skipped for the time budget: {len(skipped)} rows (' + ', '.join(
            ' '.join(str(r.get(k)) for k in ('model', 'form', 'dtype', 'what', 'case') if r.get(k))
            for r in skipped[:12]) + (', ...' if len(skipped) > 12 else '') + ').')
    return '\n'.join(lines) + '\n'


def _measure_line(model, form, dtype, train, dense, measured) -> str:

    def value(record, key):
        return None if record is None or 'error' in record else record.get(key)

    official_train = measured.get((model, 'official', dtype, 'train'))
    official_dense = measured.get((model, 'official', dtype, 'dense'))
    baseline_train = measured.get((BASELINE, 'baseline', dtype, 'train'))
    errors = [r['error'] for r in (train, dense) if r is not None and 'error' in r]
    errors += sorted({
        f'Triton kernels off: {r["kernels_failure"]}'
        for r in (train, dense) if r is not None and r.get('kernels_failure')
    })
    label = MODELS.get(model, 'ConvNeXt-T (timm)')
    computed = (value(train, 'computed') or {})
    form_label = form + (' (' + ', '.join(k for k, v in (
        ('channels-last', computed.get('channels_last')),
        ('fast ops', computed.get('fast_ops'))) if v) +
                         ')' if form == 'config' and computed else '')
    cells = [
        label,
        form_label,
        dtype,
        _fmt(value(train, 'images_per_s')),
        _fmt(value(dense, 'ms_median'), 1),
        _fmt(value(train, 'peak_mb')),
        _fmt(value(dense, 'peak_mb')),
        _ratio(value(train, 'images_per_s'), value(official_train, 'images_per_s')),
        _ratio(value(official_dense, 'ms_median'), value(dense, 'ms_median')),
        _ratio(value(train, 'peak_mb'), value(official_train, 'peak_mb')),
        _ratio(value(train, 'images_per_s'), value(baseline_train, 'images_per_s')),
    ]
    if form in ('official', 'baseline'):
        cells[7:10] = ['-', '-', '-']
    line = '| ' + ' | '.join(cells) + ' |'
    if errors:
        line += ' error: ' + '; '.join(errors)
    return line
