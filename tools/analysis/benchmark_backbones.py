#!/usr/bin/env python
"""Benchmark mmmoga backbones, and their peers side by side in the same run.

Per model and setting (dtype x memory format x ``with_cp``) it prints: parameters (M), FLOPs (G) at
``--size`` and at ``--dense-size`` (mmengine counter, one image, backbone forward, FLOPs = MACs),
inference and training-step throughput (images/s) and peak memory for each, and, where a peer is in
the run, our/peer ratios. A last line compares the training-step peak memory of MogaNet-S at
512x512, batch 2, with and without ``with_cp``.

What is measured:

* every model is a *backbone* returning all four stage outputs (dense mode: the layout detectors and
  segmentors use), unless its name ends in ``-cls`` (classification trunk: the pooled pre-logits);
* inference: ``model.eval()`` under ``torch.no_grad()``;
* train step: ``model.train()``, forward, loss = sum over the outputs of ``output.float().mean()``,
  backward, a plain SGD step (lr 1e-4, no momentum, so no optimizer state) and
  ``zero_grad(set_to_none=True)``;
* bf16: ``torch.autocast(device, dtype=torch.bfloat16)`` around the forward (weights stay fp32);
  channels_last: model and input converted with ``memory_format=torch.channels_last``;
* ``with_cp`` only changes the training step (every backbone here skips checkpointing without
  grad), so the inference columns of a ``with_cp`` row are left empty when the same row without
  ``with_cp`` is in the run;
* throughput = batch x iters / wall time of ``--iters`` steps after ``--warmup`` steps (CUDA is
  synchronised around the timed loop); each measurement builds a fresh model (seed 0).

Peak memory: the extra memory over the resting state (model on the device, input batch allocated,
optimizer built, no gradients: they are set to None after every step), over the timed steps (the
warmup steps come first, so one-time allocations such as library initialisation, oneDNN caches or
cuDNN autotuning are not counted; with ``--warmup 0`` they are):

* CUDA: ``torch.cuda.max_memory_allocated() - torch.cuda.memory_allocated()`` taken before the
  first timed step (tensors the caching allocator handed out; its reserved-but-free cache is not
  counted);
* CPU: the growth of the process's peak resident set size (``VmHWM`` of ``/proc/self/status``,
  reset through ``/proc/self/clear_refs`` just before the first timed step; where that is not
  possible, the maximum RSS sampled by a ``psutil`` thread every millisecond) over the RSS at that
  moment, taken after ``gc.collect()`` and glibc's ``malloc_trim(0)``. By default every CPU
  measurement runs in a fresh subprocess, so memory left over from another model cannot hide the
  growth. It counts activations kept for backward, gradients, temporaries, oneDNN/OpenMP
  workspaces and heap fragmentation: a resident-memory figure, coarser than the CUDA one and not
  comparable to it (compare CPU figures with CPU figures of the same run).

For a train step the peak therefore includes the gradients (as many bytes as the trainable
parameters in fp32).

FLOPs are multiply-accumulates counted by ``mmengine.analysis`` on CPU in fp32; FFTs (HorNet ``-gf``)
are not counted.

Models: ``--list-models``. Ours: ``moganet-{xt,t,s,b,l,xl}``, ``hornet-{t,s,b,l}[-gf]``,
``conv2former-{n,t,s,b,l}``, ``inceptionnext-{a,t,s,b}``; peers: ``mmpretrain-hornet-{t,s,b,l}[-gf]``
(mmpretrain's HorNet), ``convnext-{t,s,b,l}`` (mmpretrain's ConvNeXt), ``timm-inceptionnext-*``
(timm, when installed). A ``-cls`` suffix (HorNet, Conv2Former, InceptionNeXt, ConvNeXt) builds the
classification trunk instead of the 4-output backbone. HorNet and mmpretrain's HorNet are also
checked for identical outputs (mmpretrain's weights copied into ours).

Examples::

  # the default small CPU run (a few minutes on 2 cores)
  python tools/analysis/benchmark_backbones.py
  # the README figures (GPU): dense backbones, every setting, MogaNet-S with_cp summary
  python tools/analysis/benchmark_backbones.py --device cuda --batch 64 --iters 30 --warmup 10 \
      --models moganet-s hornet-t mmpretrain-hornet-t inceptionnext-t convnext-t \
      --dtype fp32 bf16 --memory-format channels_first channels_last --with-cp both \
      --markdown --json work_dirs/benchmark/dense.json
  # InceptionNeXt-T vs ConvNeXt-T as classifiers, side by side (the paper's comparison)
  python tools/analysis/benchmark_backbones.py --device cuda --batch 128 --iters 30 --warmup 10 \
      --models inceptionnext-t-cls convnext-t-cls --dtype fp32 bf16 --no-cp-summary --markdown
"""
import argparse
import contextlib
import gc
import importlib.util
import json
import math
import os
import os.path as osp
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

RESULT_TAG = 'BENCH_RESULT '
DTYPES = ('fp32', 'bf16')
MEMORY_FORMATS = ('channels_first', 'channels_last')
MODES = ('infer', 'train')
CP_CHOICES = ('off', 'on', 'both')
ISOLATE_CHOICES = ('auto', 'process', 'none')
FAMILY_LABELS = dict(moganet='MogaNet', hornet='HorNet', conv2former='Conv2Former',
                     inceptionnext='InceptionNeXt', convnext='ConvNeXt')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# ------------------------------------------------------------------------------------- the models


@dataclass
class Entry:
    """A model of the benchmark.

    ``build(with_cp)`` returns the backbone; ``weights`` names a weight layout: two entries with the
    same layout get the same weights (through :data:`TRANSFERS`) for the identical-output check.
    """
    name: str
    build: Callable[[bool], nn.Module]
    source: str
    description: str
    weights: Optional[str] = None


def _mmmoga(cls_name: str, **kwargs) -> Callable[[bool], nn.Module]:

    def build(with_cp: bool) -> nn.Module:
        from mmmoga.models import backbones
        return getattr(backbones, cls_name)(with_cp=with_cp, **kwargs)

    return build


def _mmpretrain(cls_name: str, **kwargs) -> Callable[[bool], nn.Module]:

    def build(with_cp: bool) -> nn.Module:
        try:
            from mmpretrain.models import backbones
        except ImportError as error:
            raise RuntimeError(f'mmpretrain is not installed ({error})') from None
        return getattr(backbones, cls_name)(with_cp=with_cp, **kwargs)

    return build


def _timm(model_name: str) -> Callable[[bool], nn.Module]:

    def build(with_cp: bool) -> nn.Module:
        try:
            import timm
        except ImportError:
            raise RuntimeError(f'timm is not installed; {model_name} needs it') from None
        model = timm.create_model(
            model_name, pretrained=False, features_only=True, out_indices=(0, 1, 2, 3))
        if with_cp:
            model.set_grad_checkpointing(True)
        return model

    return build


def _build_zoo() -> Dict[str, Entry]:
    zoo = {}

    def add(name, build, source, description, weights=None):
        zoo[name] = Entry(name, build, source, description, weights)

    four = (0, 1, 2, 3)
    for short, arch in (('xt', 'xtiny'), ('t', 'tiny'), ('s', 'small'), ('b', 'base'),
                        ('l', 'large'), ('xl', 'xlarge')):
        add(f'moganet-{short}', _mmmoga('MogaNet', arch=arch, out_indices=four), 'mmmoga',
            f'MogaNet-{short.upper()}, 4 outputs')
    for short, arch in (('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large')):
        for mixer in ('dw', 'gf'):
            suffix = '-gf' if mixer == 'gf' else ''
            label = f'HorNet-{short.upper()}{" GF" if suffix else " 7x7"}'
            add(f'hornet-{short}{suffix}', _mmmoga('HorNet', arch=arch, mixer=mixer), 'mmmoga',
                f'{label}, 4 normed outputs', f'hornet-dense{suffix}')
            add(f'hornet-{short}{suffix}-cls',
                _mmmoga('HorNet', arch=arch, mixer=mixer, gap_before_final_norm=True), 'mmmoga',
                f'{label}, classification trunk (pooled + final norm)', f'hornet-cls{suffix}')
            pre_arch = f'{arch}-gf' if suffix else arch
            add(f'mmpretrain-hornet-{short}{suffix}',
                _mmpretrain('HorNet', arch=pre_arch, out_indices=four, gap_before_final_norm=False),
                'mmpretrain', f'mmpretrain {label}, 4 normed outputs', f'hornet-dense{suffix}')
            add(f'mmpretrain-hornet-{short}{suffix}-cls',
                _mmpretrain('HorNet', arch=pre_arch, out_indices=(3, ), gap_before_final_norm=True),
                'mmpretrain', f'mmpretrain {label}, classification trunk', f'hornet-cls{suffix}')
    for short, arch in (('n', 'nano'), ('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large')):
        add(f'conv2former-{short}', _mmmoga('Conv2Former', arch=arch, out_indices=four), 'mmmoga',
            f'Conv2Former-{short.upper()}, 4 raw outputs')
        add(f'conv2former-{short}-cls',
            _mmmoga('Conv2Former', arch=arch, out_indices=(3, ), with_cls_head=True), 'mmmoga',
            f'Conv2Former-{short.upper()}, classification trunk (head, pooled pre-logits)')
    for short, arch in (('a', 'atto'), ('t', 'tiny'), ('s', 'small'), ('b', 'base')):
        add(f'inceptionnext-{short}', _mmmoga('InceptionNeXt', arch=arch, out_indices=four),
            'mmmoga', f'InceptionNeXt-{short.upper()}, 4 raw outputs')
        add(f'inceptionnext-{short}-cls',
            _mmmoga('InceptionNeXt', arch=arch, out_indices=(3, ), with_cls_head=True), 'mmmoga',
            f'InceptionNeXt-{short.upper()}, classification trunk (MLP head to pre-logits)')
        add(f'timm-inceptionnext-{short}', _timm(f'inception_next_{arch}'), 'timm',
            f'timm inception_next_{arch}, features_only, 4 outputs')
    for short, arch in (('t', 'tiny'), ('s', 'small'), ('b', 'base'), ('l', 'large')):
        add(f'convnext-{short}',
            _mmpretrain('ConvNeXt', arch=arch, out_indices=four, gap_before_final_norm=False,
                        frozen_stages=0), 'mmpretrain',
            f'mmpretrain ConvNeXt-{short.upper()}, 4 normed outputs')
        add(f'convnext-{short}-cls',
            _mmpretrain('ConvNeXt', arch=arch, out_indices=(3, ), gap_before_final_norm=True,
                        frozen_stages=0), 'mmpretrain',
            f'mmpretrain ConvNeXt-{short.upper()}, classification trunk (pooled + final norm)')
    return zoo


MODEL_ZOO: Dict[str, Entry] = _build_zoo()


def default_peer(name: str, run: Sequence[str]) -> Optional[str]:
    """The peer a model is compared with when ``--peer`` does not name one (if it is in the run)."""
    candidates = []
    if name.startswith('hornet-'):
        candidates.append('mmpretrain-' + name)
    elif name.startswith('inceptionnext-'):
        variant, _, cls = name[len('inceptionnext-'):].partition('-')
        if not cls:
            candidates.append(f'timm-inceptionnext-{variant}')
        candidates.append(f'convnext-{variant}' + ('-cls' if cls else ''))
    return next((c for c in candidates if c in run), None)


def _load_hornet_converter():
    path = osp.join(REPO_ROOT, 'tools', 'model_converters', 'hornet_mmpretrain_to_official.py')
    spec = importlib.util.spec_from_file_location('_hornet_mmpretrain_to_official', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hornet_transfer(layout: str) -> Callable[[nn.Module, nn.Module], None]:

    def transfer(peer: nn.Module, ours: nn.Module) -> None:
        converter = _load_hornet_converter()
        state, _ = converter.convert_hornet_mmpretrain(peer.state_dict(), layout=layout)
        ours.load_state_dict(state, strict=True)

    return transfer


#: weight layout -> copy the peer's weights into ours (for the identical-output check)
TRANSFERS = {
    'hornet-dense': _hornet_transfer('dense'),
    'hornet-dense-gf': _hornet_transfer('dense'),
    'hornet-cls': _hornet_transfer('cls'),
    'hornet-cls-gf': _hornet_transfer('cls'),
}

# ------------------------------------------------------------------------------ peak memory probes


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


def build_model(name: str, with_cp: bool = False, train: bool = False) -> nn.Module:
    """Build a model of the zoo in train or eval mode (mmpretrain's ``HorNet.train`` returns None,
    so ``.eval()`` is not chained)."""
    model = MODEL_ZOO[name].build(with_cp)
    model.train(train)
    return model


def measure(spec: dict) -> dict:
    """One measurement: ``spec`` holds model, mode, batch, size, dtype, memory_format, with_cp,
    iters, warmup, device, threads. Returns throughput (images/s), time per step and peak memory."""
    if spec.get('threads'):
        torch.set_num_threads(spec['threads'])
    device = torch.device(spec['device'])
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    train = spec['mode'] == 'train'
    channels_last = spec['memory_format'] == 'channels_last'
    torch.manual_seed(0)
    model = build_model(spec['model'], spec['with_cp'], train).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(spec['batch'], 3, spec['size'], spec['size'], device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = None
    if train:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0)
    if spec['dtype'] == 'bf16':
        autocast = torch.autocast(device.type, dtype=torch.bfloat16)
    else:
        autocast = contextlib.nullcontext()

    def step() -> None:
        if not train:
            with torch.no_grad(), autocast:
                model(x)
            return
        with autocast:
            outs = _outputs(model(x))
        loss = sum(o.float().mean() for o in outs)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def sync() -> None:
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    for _ in range(spec['warmup']):
        step()
    sync()
    if device.type == 'cpu':
        release_freed_memory()
    probe = PeakMemory(device)
    probe.start()
    start = time.perf_counter()
    for _ in range(spec['iters']):
        step()
    sync()
    elapsed = time.perf_counter() - start
    peak = probe.stop()
    result = dict(
        images_per_s=spec['batch'] * spec['iters'] / elapsed if spec['iters'] else None,
        ms_per_step=1000 * elapsed / spec['iters'] if spec['iters'] else None,
        peak_mb=peak / 2**20,
        memory_method=probe.method,
        baseline_mb=probe.baseline / 2**20)
    del model, optimizer, x
    gc.collect()
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    return result


def run_measurement(spec: dict, isolate: bool, timeout: Optional[float] = None) -> dict:
    """Run :func:`measure` here, or in a fresh interpreter (``isolate``); errors become
    ``{'error': message}`` so one failing model does not end the run."""
    if not isolate:
        try:
            return measure(spec)
        except Exception as error:  # noqa: BLE001 (reported in the table)
            result = dict(error=f'{type(error).__name__}: {error}'.splitlines()[0][:300])
        # out of the except block: the traceback no longer holds the model and its tensors
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return result
    command = [sys.executable, osp.abspath(__file__), '--worker', json.dumps(spec)]
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    if spec.get('threads'):
        env['OMP_NUM_THREADS'] = str(spec['threads'])
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return dict(error=f'timed out after {timeout} s')
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    tail = (proc.stderr.strip().splitlines() or [''])[-1]
    return dict(error=f'worker exited with {proc.returncode}: {tail}'[:300])


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    try:
        result = measure(spec)
    except Exception as error:  # noqa: BLE001
        result = dict(error=f'{type(error).__name__}: {error}'.splitlines()[0][:300])
    print(RESULT_TAG + json.dumps(result), flush=True)


def count_complexity(name: str, sizes: Sequence[int]) -> dict:
    """Parameters and FLOPs (MACs, mmengine counter, one image, fp32, CPU) at each size."""
    import logging

    from mmengine.analysis import FlopAnalyzer
    from mmengine.logging import MMLogger
    torch.manual_seed(0)
    model = build_model(name)
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
    """Give ``ours`` the weights of ``peer`` and compare their outputs (fp32, CPU, eval, batch 1)."""
    layout = MODEL_ZOO[ours].weights
    if layout is None or layout != MODEL_ZOO[peer].weights or layout not in TRANSFERS:
        return dict(checked=False, note='outputs not compared (no weight mapping between the two; '
                    'for different architectures such as InceptionNeXt vs ConvNeXt that is '
                    'expected)')
    try:
        torch.manual_seed(0)
        peer_model = build_model(peer)
        our_model = build_model(ours)
        TRANSFERS[layout](peer_model, our_model)
        x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
        expected, actual = _outputs(peer_model(x)), _outputs(our_model(x))
    except Exception as error:  # noqa: BLE001
        return dict(checked=False, note=f'check failed: {type(error).__name__}: {error}'[:300])
    if [e.shape for e in expected] != [a.shape for a in actual]:
        return dict(checked=True, same=False, note='output shapes differ')
    diff = max((e - a).abs().max().item() for e, a in zip(expected, actual))
    scale = max(e.abs().max().item() for e in expected)
    return dict(checked=True, same=diff <= 1e-4 * max(scale, 1.0), max_abs_diff=diff,
                max_abs_output=scale, note=f'max |ours - peer| = {diff:.2e} (outputs up to '
                f'{scale:.2e}) with the peer\'s weights, fp32, {size}x{size}')


# ------------------------------------------------------------------------------------ the report


def _fmt(value, digits: int = 1, suffix: str = '') -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}{suffix}'


def table_rows(rows: List[dict], size: int,
               dense_size: int) -> Tuple[List[str], List[List[str]]]:
    sizes = [size] if dense_size == size else [size, dense_size]
    header = ['model', 'dtype', 'format', 'with_cp', 'params (M)']
    header += [f'GFLOPs@{s}' for s in sizes]
    header += ['infer img/s', 'infer peak MB', 'train img/s', 'train peak MB', 'peer', 'infer x',
               'train x', 'train mem x']
    body = []
    for row in rows:
        infer, train, ratio = row.get('infer') or {}, row.get('train') or {}, row.get('ratio') or {}
        flops = row.get('flops') or {}
        body.append([
            row['model'], row['dtype'], row['memory_format'].replace('channels_', 'ch-'),
            'yes' if row['with_cp'] else 'no',
            _fmt(row['params'] / 1e6 if row.get('params') is not None else None, 2),
            *[_fmt(flops[s] / 1e9 if flops.get(s) is not None else None, 2) for s in sizes],
            'err' if 'error' in infer else _fmt(infer.get('images_per_s')),
            'err' if 'error' in infer else _fmt(infer.get('peak_mb')),
            'err' if 'error' in train else _fmt(train.get('images_per_s')),
            'err' if 'error' in train else _fmt(train.get('peak_mb')),
            row.get('peer') or '-',
            _fmt(ratio.get('infer'), 2, 'x'),
            _fmt(ratio.get('train'), 2, 'x'),
            _fmt(ratio.get('train_mem'), 2, 'x'),
        ])
    return header, body


LEFT_COLUMNS = ('model', 'dtype', 'format', 'with_cp', 'peer')


def format_plain(header: List[str], body: List[List[str]]) -> str:
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    left = {i for i, name in enumerate(header) if name in LEFT_COLUMNS}

    def line(cells):
        return '  '.join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return '\n'.join([line(header), line(['-' * w for w in widths])] + [line(r) for r in body])


def format_markdown(header: List[str], body: List[List[str]]) -> str:
    align = ['---' if name in LEFT_COLUMNS else '---:' for name in header]
    lines = ['| ' + ' | '.join(cells) + ' |' for cells in [header, align] + body]
    return '\n'.join(lines)


def describe_environment(args) -> dict:
    env = dict(torch=torch.__version__, python=platform.python_version(), device=args.device,
               threads=args.threads or torch.get_num_threads())
    if args.device == 'cuda':
        env['device_name'] = torch.cuda.get_device_name(0)
        env['cudnn_benchmark'] = True
        env['tf32_matmul'] = torch.backends.cuda.matmul.allow_tf32
        env['tf32_cudnn'] = torch.backends.cudnn.allow_tf32
    else:
        env['device_name'] = platform.processor() or platform.machine()
        try:
            with open('/proc/cpuinfo') as f:
                names = [ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')]
            if names:
                env['device_name'] = names[0]
        except OSError:
            pass
    return env


def notes_text(args, report: dict) -> List[str]:
    mem = ('CUDA: max_memory_allocated above model + input' if args.device == 'cuda' else
           'CPU: growth of the peak resident set size over the RSS with model + input resident'
           + (', one fresh process per measurement' if report['isolate'] else
              ', in-process (memory freed by an earlier measurement can be reused, so the figure '
              'may read low: use --isolate process)'))
    notes = [
        f'device {report["environment"]["device_name"]} ({args.device}), torch '
        f'{torch.__version__}, threads {report["environment"]["threads"]}; batch {args.batch}, '
        f'{args.size}x{args.size}, {args.warmup} warmup + {args.iters} timed steps.',
        'train step = forward + backward of sum(output.float().mean()) + SGD step (no momentum); '
        'bf16 = autocast (fp32 weights).',
        f'peak memory = {mem}; includes gradients for the train step.',
        'FLOPs = MACs, mmengine counter, batch 1, fp32 (FFTs of HorNet GF not counted).',
        'x columns = ours / peer in the same setting: throughput (>1: ours faster), train peak '
        'memory (<1: ours smaller).',
    ]
    for check in report['peer_checks']:
        notes.append(f'{check["model"]} vs {check["peer"]}: {check["note"]}' +
                     ('' if not check.get('checked') else
                      ' -> identical' if check.get('same') else ' -> DIFFERENT'))
    for row in report['rows']:
        for mode in MODES:
            if 'error' in (row.get(mode) or {}):
                notes.append(f'error: {row["model"]} {row["dtype"]} {row["memory_format"]} '
                             f'with_cp={row["with_cp"]} {mode}: {row[mode]["error"]}')
        if row.get('flops_error'):
            notes.append(f'FLOPs of {row["model"]} failed: {row["flops_error"]}')
    return notes


def cp_summary_line(summary: dict) -> str:
    without, with_cp = summary['without'], summary['with']
    title = (f'{summary["label"]} {summary["size"]}x{summary["size"]} batch {summary["batch"]} '
             f'train-step peak memory with/without with_cp')
    if 'error' in without or 'error' in with_cp:
        return f'{title}: error ({with_cp.get("error") or without.get("error")})'
    ratio = with_cp['peak_mb'] / without['peak_mb'] if without['peak_mb'] else float('nan')
    return (f'{title}: {with_cp["peak_mb"]:.1f} MB / {without["peak_mb"]:.1f} MB = {ratio:.2f} '
            f'({summary["device"]}, {summary["dtype"]}, {summary["memory_format"]}, '
            f'{summary["memory_method"]}; step time {with_cp["ms_per_step"]:.0f} ms vs '
            f'{without["ms_per_step"]:.0f} ms)')


# -------------------------------------------------------------------------------------- the CLI


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='benchmark_backbones.py', description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument(
        '--models', nargs='+', default=['moganet-xt', 'inceptionnext-a', 'hornet-t',
                                        'mmpretrain-hornet-t'],
        help='models to benchmark (see --list-models); default: moganet-xt inceptionnext-a '
        'hornet-t mmpretrain-hornet-t')
    parser.add_argument('--list-models', action='store_true', help='list the models and exit')
    parser.add_argument(
        '--peer', nargs='+', default=[], metavar='OURS=PEER',
        help='compare OURS with PEER (added to the run if missing), e.g. '
        'inceptionnext-t=convnext-t hornet-t=mmpretrain-hornet-t; without it, hornet-* is '
        'compared with mmpretrain-hornet-* and inceptionnext-* with timm-inceptionnext-* or '
        'convnext-* when those are in the run')
    parser.add_argument('--batch', type=int, default=2, help='batch size (default 2)')
    parser.add_argument('--size', type=int, default=224,
                        help='input size of the timings and of the first FLOPs column (224)')
    parser.add_argument('--dense-size', type=int, default=512,
                        help='input size of the second FLOPs column (512)')
    parser.add_argument('--dtype', nargs='+', choices=DTYPES, default=['fp32'],
                        help='fp32 and/or bf16 (autocast); default fp32')
    parser.add_argument('--memory-format', nargs='+', choices=MEMORY_FORMATS,
                        default=['channels_first'], help='default channels_first')
    parser.add_argument('--with-cp', choices=CP_CHOICES, default='off',
                        help='activation checkpointing: off, on or both (default off)')
    parser.add_argument('--modes', nargs='+', choices=MODES, default=list(MODES),
                        help='what to time: infer and/or train (default both)')
    parser.add_argument('--iters', type=int, default=3, help='timed steps (default 3)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps first (default 1)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s default)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument(
        '--isolate', choices=ISOLATE_CHOICES, default='auto',
        help='process: every measurement in a fresh interpreter (reliable CPU peak memory); '
        'none: all in this process; auto (default): process on CPU, none on CUDA')
    parser.add_argument('--timeout', type=float, default=1800,
                        help='seconds per isolated measurement (default 1800)')
    parser.add_argument('--no-flops', action='store_true', help='skip the FLOPs count')
    parser.add_argument('--no-output-check', action='store_true',
                        help='skip the identical-output check of ours vs peer')
    parser.add_argument('--no-cp-summary', action='store_true',
                        help='skip the with_cp peak-memory summary line')
    parser.add_argument('--cp-summary-model', default='moganet-s',
                        help='model of the with_cp summary (default moganet-s)')
    parser.add_argument('--cp-summary-size', type=int, default=512, help='default 512')
    parser.add_argument('--cp-summary-batch', type=int, default=2, help='default 2')
    parser.add_argument('--cp-summary-warmup', type=int, default=1,
                        help='untimed steps before the measured one (default 1)')
    parser.add_argument('--markdown', action='store_true', help='print the table as Markdown')
    parser.add_argument('--json', metavar='OUT', help='also write every figure to this JSON file')
    args = parser.parse_args(argv)
    if args.list_models:
        return args

    valid = sorted(MODEL_ZOO)

    def check_name(name: str, what: str) -> str:
        if name.lower() not in MODEL_ZOO:
            parser.error(f'unknown {what} {name!r}; valid choices: {", ".join(valid)}')
        return name.lower()

    args.models = list(dict.fromkeys(check_name(m, 'model') for m in args.models))
    peers = {}
    for pair in args.peer:
        ours, sep, peer = pair.partition('=')
        if not sep or not ours or not peer:
            parser.error(f'--peer takes OURS=PEER pairs, got {pair!r}')
        ours, peer = check_name(ours, 'model'), check_name(peer, 'peer')
        if ours == peer:
            parser.error(f'--peer {pair!r}: a model cannot be its own peer')
        peers[ours] = peer
        for name in (ours, peer):
            if name not in args.models:
                args.models.append(name)
    for name in args.models:
        if name not in peers:
            peer = default_peer(name, args.models)
            if peer:
                peers[name] = peer
    args.peers = peers
    args.cp_summary_model = check_name(args.cp_summary_model, 'cp summary model')
    for field in ('batch', 'size', 'dense_size', 'iters', 'cp_summary_size', 'cp_summary_batch'):
        if getattr(args, field) < 1:
            parser.error(f'--{field.replace("_", "-")} must be >= 1')
    if args.warmup < 0 or args.cp_summary_warmup < 0:
        parser.error('--warmup and --cp-summary-warmup must be >= 0')
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    args.dtype = list(dict.fromkeys(args.dtype))
    args.memory_format = list(dict.fromkeys(args.memory_format))
    args.modes = list(dict.fromkeys(args.modes))
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the benchmark; print the table and return the report (also written by ``--json``)."""
    args = parse_args(argv)
    if args.list_models:
        for name, entry in MODEL_ZOO.items():
            print(f'{name:32s} {entry.source:10s} {entry.description}')
        return {}
    if args.threads:
        torch.set_num_threads(args.threads)
    isolate = args.isolate == 'process' or (args.isolate == 'auto' and args.device == 'cpu')
    cps = {'off': [False], 'on': [True], 'both': [False, True]}[args.with_cp]
    report = dict(environment=describe_environment(args), isolate=isolate,
                  config={k: v for k, v in vars(args).items() if k != 'list_models'},
                  rows=[], peer_checks=[], cp_summary=None)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    complexity = {}
    for name in args.models:
        if args.no_flops:
            complexity[name] = dict(params=sum(p.numel() for p in build_model(name).parameters()),
                                    flops={})
        else:
            log(f'[benchmark] counting FLOPs of {name}')
            try:
                complexity[name] = count_complexity(name, sorted({args.size, args.dense_size}))
            except Exception as error:  # noqa: BLE001
                complexity[name] = dict(params=None, flops={},
                                        flops_error=f'{type(error).__name__}: {error}'[:300])

    cache = {}

    def measured(spec: dict) -> dict:
        key = json.dumps(spec, sort_keys=True)
        if key not in cache:
            log(f'[benchmark] {spec["model"]} {spec["mode"]} {spec["dtype"]} '
                f'{spec["memory_format"]} with_cp={spec["with_cp"]}')
            cache[key] = run_measurement(spec, isolate, args.timeout)
        return cache[key]

    base = dict(batch=args.batch, size=args.size, iters=args.iters, warmup=args.warmup,
                device=args.device, threads=args.threads)
    for name in args.models:
        for dtype in args.dtype:
            for memory_format in args.memory_format:
                for with_cp in cps:
                    row = dict(model=name, source=MODEL_ZOO[name].source, dtype=dtype,
                               memory_format=memory_format, with_cp=with_cp,
                               params=complexity[name].get('params'),
                               flops=complexity[name].get('flops', {}),
                               flops_error=complexity[name].get('flops_error'),
                               peer=args.peers.get(name), infer=None, train=None)
                    spec = dict(base, model=name, dtype=dtype, memory_format=memory_format,
                                with_cp=with_cp)
                    if 'infer' in args.modes and (not with_cp or False not in cps):
                        row['infer'] = measured(dict(spec, mode='infer'))
                    if 'train' in args.modes:
                        row['train'] = measured(dict(spec, mode='train'))
                    report['rows'].append(row)

    def find(name, dtype, memory_format, with_cp):
        return next((r for r in report['rows'] if (r['model'], r['dtype'], r['memory_format'],
                                                   r['with_cp']) == (name, dtype, memory_format,
                                                                     with_cp)), None)

    def ratio(a: Optional[dict], b: Optional[dict], key: str) -> Optional[float]:
        if not a or not b or a.get(key) is None or not b.get(key):
            return None
        return a[key] / b[key]

    for row in report['rows']:
        peer = find(row['peer'], row['dtype'], row['memory_format'], row['with_cp'])
        if peer is None:
            continue
        infer = row['infer'] or (find(row['model'], row['dtype'], row['memory_format'], False)
                                 or {}).get('infer')
        peer_infer = peer['infer'] or (find(peer['model'], row['dtype'], row['memory_format'],
                                            False) or {}).get('infer')
        row['ratio'] = dict(
            infer=None if row['infer'] is None else ratio(infer, peer_infer, 'images_per_s'),
            train=ratio(row['train'], peer['train'], 'images_per_s'),
            train_mem=ratio(row['train'], peer['train'], 'peak_mb'))

    if not args.no_output_check:
        for name, peer in args.peers.items():
            log(f'[benchmark] output check {name} vs {peer}')
            report['peer_checks'].append(
                dict(model=name, peer=peer, **check_same_output(name, peer, args.size)))

    if not args.no_cp_summary:
        spec = dict(model=args.cp_summary_model, mode='train', batch=args.cp_summary_batch,
                    size=args.cp_summary_size, dtype='fp32', memory_format='channels_first',
                    iters=1, warmup=args.cp_summary_warmup, device=args.device,
                    threads=args.threads)
        without = measured(dict(spec, with_cp=False))
        with_cp = measured(dict(spec, with_cp=True))
        family, _, variant = args.cp_summary_model.partition('-')
        label = FAMILY_LABELS.get(family, family) + '-' + variant.upper()
        summary = {'label': label, 'size': spec['size'], 'batch': spec['batch'],
                   'device': args.device, 'dtype': 'fp32', 'memory_format': 'channels_first',
                   'without': without, 'with': with_cp,
                   'memory_method': without.get('memory_method') or with_cp.get('memory_method')}
        if 'error' not in without and 'error' not in with_cp and without['peak_mb']:
            summary['ratio'] = with_cp['peak_mb'] / without['peak_mb']
        report['cp_summary'] = summary

    header, body = table_rows(report['rows'], args.size, args.dense_size)
    notes = notes_text(args, report)
    if args.markdown:
        print(format_markdown(header, body))
        print()
        print('\n'.join(f'* {note}' for note in notes))
    else:
        print(format_plain(header, body))
        print()
        print('\n'.join(notes))
    if report['cp_summary'] is not None:
        line = cp_summary_line(report['cp_summary'])
        report['cp_summary']['line'] = line
        print()
        print(line)
    report['notes'] = notes
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2, default=str)
        log(f'[benchmark] wrote {args.json}')
    return report


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--worker':
        worker_main(sys.argv[2])
    else:
        main()
