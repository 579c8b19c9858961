"""Measurements of the benchmark: throughput and peak memory of one setting (optionally in a fresh
interpreter), parameters and FLOPs, and the identical-output check of ours against a peer.

What is measured, and how: see :mod:`mmmoga.devtools.benchmark`.
"""
import contextlib
import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from .. import PACKAGE_PARENT
from .models import build_benchmark_model, weight_transfer

RESULT_TAG = 'BENCH_RESULT '
#: what a fresh interpreter runs for an isolated measurement (``argv[1]``: the spec as JSON,
#: ``argv[2]``: the measuring function as ``module:name``)
WORKER_CODE = ('import sys; from mmmoga.devtools.benchmark.measure import worker_main; '
               'worker_main(*sys.argv[1:])')


def restores_thread_count(function: Callable) -> Callable:
    """For a measurement that sets its own ``torch.set_num_threads``: the caller's thread count is
    back afterwards, so a measurement run in-process leaves the process as it found it."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        try:
            return function(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


def _read_status_kb(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak memory above the state at :meth:`start` (see the module docstring)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.method = None
        self._sampler = None
        self._stop = threading.Event()
        self._max_rss = 0

    def _rss(self) -> int:
        import psutil
        return psutil.Process().memory_info().rss

    def start(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            self.method = 'cuda max_memory_allocated'
            self.baseline = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        gc.collect()
        self.baseline = self._rss()
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM (the peak RSS) to the current RSS (Linux >= 4.0)
            if _read_status_kb('VmHWM') is None:
                raise OSError('no VmHWM')
            self.method = 'VmHWM'
            self.baseline = min(self.baseline, _read_status_kb('VmRSS') or self.baseline)
        except OSError:
            self.method = 'psutil sampling (1 ms)'
            self._max_rss = self.baseline
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._max_rss = max(self._max_rss, self._rss())
            time.sleep(0.001)

    def stop(self) -> int:
        """Return the peak in bytes above the baseline."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self.baseline
        if self._sampler is not None:
            self._stop.set()
            self._sampler.join()
            return max(0, max(self._max_rss, self._rss()) - self.baseline)
        return max(0, _read_status_kb('VmHWM') - self.baseline)


# ---------------------------------------------------------------------------------- measurements


def release_freed_memory() -> None:
    """Collect garbage and hand the heap memory glibc keeps after ``free`` back to the OS, so that
    the RSS before the timed steps is what is really in use (no-op without glibc)."""
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _outputs(out) -> List[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return list(out.values())
    return list(out)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[], None], iters: int, warmup: int, device: torch.device) -> dict:
    """Run ``warmup`` untimed steps, then ``iters`` timed ones under a :class:`PeakMemory` probe
    started after them (on CPU once the freed heap is handed back). Returns the wall time of the
    timed steps (``elapsed_s``), the time of each (``step_ms``: CUDA events on a GPU, so the
    host's queueing does not count, the wall clock on CPU), their peak memory above the resting
    state (``peak_mb``), the probe's method and its baseline (``baseline_mb``)."""
    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == 'cpu':
        release_freed_memory()
    probe = PeakMemory(device)
    probe.start()
    cuda = device.type == 'cuda'
    marks = []
    start = time.perf_counter()
    for _ in range(iters):
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            step()
            end.record()
            marks.append((begin, end))
        else:
            begin = time.perf_counter()
            step()
            marks.append(1000 * (time.perf_counter() - begin))
    _sync(device)
    elapsed = time.perf_counter() - start
    peak = probe.stop()
    step_ms = [b.elapsed_time(e) for b, e in marks] if cuda else marks
    return dict(
        elapsed_s=sum(step_ms) / 1000 if cuda else elapsed,
        step_ms=step_ms,
        peak_mb=peak / 2**20,
        memory_method=probe.method,
        baseline_mb=probe.baseline / 2**20)


def image_size(size) -> Tuple[int, int]:
    """``(height, width)`` of a size given as ``224``, ``'800x1344'`` or ``[800, 1344]``."""
    if isinstance(size, str):
        parts = size.lower().split('x')
        if len(parts) == 1:
            parts = parts * 2
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f'an image size is N or HxW (e.g. 224, 800x1344), got {size!r}')
        return int(parts[0]), int(parts[1])
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def size_label(size) -> str:
    """``'224'`` for a square size, ``'800x1344'`` otherwise."""
    height, width = image_size(size)
    return str(height) if height == width else f'{height}x{width}'


#: memory format of the benchmark -> the ``channels_last`` argument of our backbones
#: (``'default'``: what the model does as built, from an NCHW input, as a config runs it)
LAYOUT_ARGUMENT = dict(default=None, channels_first=False, channels_last=True)
AUTOCAST_DTYPES = dict(bf16=torch.bfloat16, fp16=torch.float16)
#: mmengine's ``AmpOptimWrapper`` starts ``GradScaler`` at this loss scale
FP16_INIT_SCALE = 2.**16


def training_step(loss: torch.Tensor,
                  optimizer: torch.optim.Optimizer,
                  scaler: Optional[torch.amp.GradScaler] = None) -> None:
    """Backward and an optimizer step (through ``scaler`` for fp16), then the gradients set to
    None: the step both benchmarks time."""
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad(set_to_none=True)


@restores_thread_count
def measure(spec: dict) -> dict:
    """One measurement: ``spec`` holds model, mode, batch, size (``224``, ``'800x1344'``), dtype
    (fp32; bf16 or fp16 autocast, fp16 training through a ``GradScaler`` at mmengine's initial
    scale 2**16), memory_format (see :data:`LAYOUT_ARGUMENT`), with_cp, iters, warmup, device,
    threads, and optionally ``fuse`` (inference only: :func:`~mmmoga.models.fuse_for_inference`
    first), ``compile`` (``torch.compile`` with the default mode; the first step, which compiles,
    is timed on its own as ``compile_s`` and comes before the warmup steps), ``cpu_kernels`` and
    ``gpu_kernels`` (True/False: mmmoga's CPU or Triton kernels on or off,
    :func:`~mmmoga.models.layers.cpu_kernels`, :func:`~mmmoga.models.layers.gpu_kernels`; absent:
    the library's default). Returns throughput (images/s), time per step (mean, median and range
    over the steps) and peak memory."""
    if spec.get('threads'):
        torch.set_num_threads(spec['threads'])
    device = torch.device(spec['device'])
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    train = spec['mode'] == 'train'
    channels_last = spec['memory_format'] == 'channels_last'
    torch.manual_seed(0)
    model = build_benchmark_model(spec['model'], spec['with_cp'], train,
                                  LAYOUT_ARGUMENT[spec['memory_format']]).to(device)
    if spec.get('fuse'):
        if train:
            raise ValueError('fuse=True is for inference only (mode infer)')
        from mmmoga.models import fuse_for_inference
        fuse_for_inference(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(spec['batch'], 3, *image_size(spec['size']), device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = scaler = None
    if train:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0)
        if spec['dtype'] == 'fp16':
            scaler = torch.amp.GradScaler(device.type, init_scale=FP16_INIT_SCALE)
    forward = torch.compile(model) if spec.get('compile') else model

    def switches() -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        if spec['dtype'] in AUTOCAST_DTYPES:
            stack.enter_context(torch.autocast(device.type, dtype=AUTOCAST_DTYPES[spec['dtype']]))
        from mmmoga.models.layers import cpu_kernels, gpu_kernels
        for key, switch in (('cpu_kernels', cpu_kernels), ('gpu_kernels', gpu_kernels)):
            if spec.get(key) is not None:
                stack.enter_context(switch(spec[key]))
        return stack

    def step() -> None:
        if not train:
            with torch.no_grad(), switches():
                forward(x)
            return
        with switches():
            outs = _outputs(forward(x))
        training_step(sum(o.float().mean() for o in outs), optimizer, scaler)

    compile_s = None
    if spec.get('compile'):
        start = time.perf_counter()
        step()
        _sync(device)
        compile_s = time.perf_counter() - start
    timing = time_steps(step, spec['iters'], spec['warmup'], device)
    elapsed = timing.pop('elapsed_s')
    step_ms = timing.pop('step_ms')
    result = dict(
        images_per_s=spec['batch'] * spec['iters'] / elapsed if spec['iters'] else None,
        ms_per_step=1000 * elapsed / spec['iters'] if spec['iters'] else None,
        ms_median=statistics.median(step_ms) if step_ms else None,
        ms_range=[min(step_ms), max(step_ms)] if step_ms else None,
        **timing)
    if compile_s is not None:
        result['compile_s'] = compile_s
    model = forward = optimizer = x = None  # free them before the next measurement
    gc.collect()
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    return result


def run_measurement(spec: dict,
                    isolate: bool,
                    timeout: Optional[float] = None,
                    function: Optional[Callable[[dict], dict]] = None) -> dict:
    """Run ``function(spec)`` (default :func:`measure`; another one must be a module-level
    function that returns a JSON-serialisable dict) here, or in a fresh interpreter
    (``isolate``); errors become ``{'error': message}`` so one failing model does not end the
    run."""
    function = function or measure
    if not isolate:
        try:
            return function(spec)
        except Exception as error:  # noqa: BLE001 (reported in the table)
            result = dict(error=f'{type(error).__name__}: {error}'.splitlines()[0][:300])
        # out of the except block: the traceback no longer holds the model and its tensors
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return result
    command = [
        sys.executable, '-c', WORKER_CODE,
        json.dumps(spec), f'{function.__module__}:{function.__name__}'
    ]
    env = dict(os.environ)
    env['PYTHONPATH'] = PACKAGE_PARENT + os.pathsep + env.get('PYTHONPATH', '')
    if spec.get('threads'):
        env['OMP_NUM_THREADS'] = str(spec['threads'])
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, cwd=PACKAGE_PARENT)
    except subprocess.TimeoutExpired:
        return dict(error=f'timed out after {timeout} s')
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr.strip().splitlines() or [''])[-1]
    return dict(error=f'worker exited with {proc.returncode}: {tail}'[:300])


def worker_main(spec_json: str,
                function: str = 'mmmoga.devtools.benchmark.measure:measure') -> None:
    """Run the measuring ``function`` (``module:name``) on the spec and print its result after
    :data:`RESULT_TAG` (the body of :data:`WORKER_CODE`)."""
    import importlib
    spec = json.loads(spec_json)
    module, _, name = function.partition(':')
    try:
        result = getattr(importlib.import_module(module), name)(spec)
    except Exception as error:  # noqa: BLE001
        result = dict(error=f'{type(error).__name__}: {error}'.splitlines()[0][:300])
    print(RESULT_TAG + json.dumps(result), flush=True)


def count_backbone_complexity(name: str, sizes: Sequence[int]) -> dict:
    """Parameters and FLOPs (MACs, mmengine counter, one image, fp32, CPU) at each size."""
    import logging

    from mmengine.analysis import FlopAnalyzer
    from mmengine.logging import MMLogger
    torch.manual_seed(0)
    model = build_benchmark_model(name)
    info = dict(params=sum(p.numel() for p in model.parameters()), flops={})
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)  # the counter warns about every op it skips
    try:
        for size in sizes:
            with torch.no_grad():
                analyzer = FlopAnalyzer(model, (torch.zeros(1, 3, size, size), ))
                analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
                info['flops'][size] = analyzer.total()
    except Exception as error:  # noqa: BLE001
        info['flops_error'] = f'{type(error).__name__}: {error}'.splitlines()[0][:300]
    finally:
        logger.setLevel(level)
    return info


@torch.no_grad()
def check_same_output(ours: str, peer: str, size: int) -> dict:
    """Give ``ours`` the weights of ``peer`` and compare their outputs (fp32, CPU, eval, batch
    1)."""
    transfer = weight_transfer(ours, peer)
    if transfer is None:
        return dict(
            checked=False,
            note='outputs not compared (no weight mapping between the two; '
            'for different architectures such as InceptionNeXt vs ConvNeXt that is '
            'expected)')
    try:
        torch.manual_seed(0)
        peer_model = build_benchmark_model(peer)
        our_model = build_benchmark_model(ours)
        transfer(peer_model, our_model)
        x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        expected, actual = _outputs(peer_model(x)), _outputs(our_model(x))
    except Exception as error:  # noqa: BLE001
        return dict(checked=False, note=f'check failed: {type(error).__name__}: {error}'[:300])
    if [e.shape for e in expected] != [a.shape for a in actual]:
        return dict(checked=True, same=False, note='output shapes differ')
    diff = max((e - a).abs().max().item() for e, a in zip(expected, actual))
    scale = max(e.abs().max().item() for e in expected)
    return dict(
        checked=True,
        same=diff <= 1e-4 * max(scale, 1.0),
        max_abs_diff=diff,
        max_abs_output=scale,
        note=f'max |ours - peer| = {diff:.2e} (outputs up to '
        f'{scale:.2e}) with the peer\'s weights, fp32, {size}x{size}')


def _relative_error(outs: List[torch.Tensor], refs: List[torch.Tensor]) -> float:
    return max(
        ((o.float() - r.float()).abs().max() / r.float().abs().max().clamp_min(1e-12)).item()
        for o, r in zip(outs, refs))


@torch.no_grad()
def check_variant_output(name: str, size: int, variant: str) -> dict:
    """Max relative difference of the ``'fused'`` or ``'compiled'`` model against the plain one
    (same weights, eval, fp32, CPU, batch 2, ``size`` x ``size``)."""
    try:
        torch.manual_seed(0)
        model = build_benchmark_model(name)
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
        refs = _outputs(model(x))
        if variant == 'fused':
            from mmmoga.models import fuse_for_inference
            fuse_for_inference(model)
            outs = _outputs(model(x))
        elif variant == 'compiled':
            outs = _outputs(torch.compile(model)(x))
        else:
            raise ValueError(f"variant must be 'fused' or 'compiled', got {variant!r}")
    except Exception as error:  # noqa: BLE001 (reported in the notes)
        return dict(model=name, variant=variant, error=f'{type(error).__name__}: {error}'[:300])
    return dict(model=name, variant=variant, relative_error=_relative_error(outs, refs))


@restores_thread_count
def gemm_rate(device: str = 'cpu',
              n: int = 4096,
              iters: int = 3,
              threads: Optional[int] = None) -> dict:
    """Multiply-accumulates per second of an ``n`` x ``n`` fp32 matrix product (one warmup), the
    machine's dense-compute reference for the MAC/s columns."""
    if threads:
        torch.set_num_threads(threads)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if torch.device(device).type == 'cuda' else (lambda: None)
    a @ b
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        a @ b
    sync()
    elapsed = time.perf_counter() - start
    return dict(n=n, iters=iters, gmac_per_s=n**3 * iters / elapsed / 1e9)
