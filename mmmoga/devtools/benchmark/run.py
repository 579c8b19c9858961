"""A benchmark run: the settings it measures, measured in interleaved rounds, and compared.

:func:`run_benchmark` is the flow behind ``tools/analysis/benchmark_backbones.py``: count each
model's FLOPs, measure every setting (model x dtype x memory format x with_cp x GPU kernels) once,
measure them all again for each further round and keep each setting's median round, compare each
row with its peer and baseline, run the output checks, then print and write the report
(:mod:`.report`).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

import torch

from .measure import (LAYOUT_ARGUMENT, check_same_output, check_variant_output,
                      count_backbone_complexity, gemm_rate, run_measurement, size_label)
from .models import BENCHMARK_MODELS, build_benchmark_model, uses_cpu_kernels, uses_gpu_kernels
from .report import MODES, describe_environment, print_report

DTYPES = ('fp32', 'bf16', 'fp16')
MEMORY_FORMATS = tuple(LAYOUT_ARGUMENT)
#: --with-cp -> the settings measured
CP_CHOICES = dict(off=[False], on=[True], both=[False, True])
#: --gpu-kernels -> the settings measured (None: the library's default, MMMOGA_GPU_KERNELS)
GPU_KERNEL_CHOICES = dict(default=[None], on=[True], off=[False], both=[False, True])
ISOLATE_CHOICES = ('auto', 'process', 'none')


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Measurements:
    """Each measurement spec measured once (then looked up), and again in :meth:`add_rounds`."""

    def __init__(self, isolate: bool, timeout: Optional[float]):
        self.isolate, self.timeout = isolate, timeout
        self.results: Dict[str, dict] = {}

    def get(self, spec: dict) -> dict:
        key = json.dumps(spec, sort_keys=True)
        if key not in self.results:
            log(f'[benchmark] {spec["model"]} {spec["mode"]} {spec["dtype"]} '
                f'{spec["memory_format"]} with_cp={spec["with_cp"]} size={spec["size"]}' +
                ''.join(f' {k}' for k in ('fuse', 'compile') if spec.get(k)) +
                (' cpu_kernels=off' if spec.get('cpu_kernels') is False else '') +
                ('' if spec.get('gpu_kernels') is
                 None else f' gpu_kernels={"on" if spec["gpu_kernels"] else "off"}'))
            self.results[key] = run_measurement(spec, self.isolate, self.timeout)
        return self.results[key]

    def add_rounds(self, repeat: int) -> None:
        """Measure every setting again, ``repeat - 1`` rounds interleaved over the settings (a
        neighbour's load or the GPU's clocks move single measurements by 10-30%); each result
        becomes its median round, with the rounds' spread (max - min) / median."""
        rounds = {key: [result] for key, result in self.results.items()}
        for round_index in range(1, repeat):
            for key in rounds:
                spec = json.loads(key)
                log(f'[benchmark] round {round_index + 1}: {spec["model"]} {spec["mode"]} '
                    f'{spec["memory_format"]} size={spec["size"]}')
                rounds[key].append(run_measurement(spec, self.isolate, self.timeout))
        for key, results in rounds.items():
            rates = [r.get('images_per_s') for r in results]  # before the first becomes the median
            timed = sorted((r for r in results if r.get('images_per_s')),
                           key=lambda r: r['images_per_s'])
            result = self.results[key]
            if timed:
                median = dict(timed[(len(timed) - 1) // 2])  # the lower median: a measured round
                fastest, slowest = timed[-1]['images_per_s'], timed[0]['images_per_s']
                result.clear()
                result.update(median)
                result['spread'] = (fastest - slowest) / median['images_per_s']
            result['round_images_per_s'] = rates


def count_complexities(args: argparse.Namespace) -> Dict[str, dict]:
    """Params (and FLOPs at the run's sizes, unless ``--no-flops``) of every model of the run."""
    complexity = {}
    for name in args.models:
        if args.no_flops:
            model = build_benchmark_model(name)
            complexity[name] = dict(params=sum(p.numel() for p in model.parameters()), flops={})
            continue
        log(f'[benchmark] counting FLOPs of {name}')
        try:
            complexity[name] = count_backbone_complexity(name, sorted({args.size, args.dense_size}))
        except Exception as error:  # noqa: BLE001
            complexity[name] = dict(
                params=None, flops={}, flops_error=f'{type(error).__name__}: {error}'[:300])
    return complexity


def measure_rows(args: argparse.Namespace, measurements: Measurements,
                 complexity: Dict[str, dict]) -> List[dict]:
    """One row per setting, with the measurements the options ask for."""
    cps = CP_CHOICES[args.with_cp]
    base = dict(
        batch=args.batch,
        size=args.size,
        iters=args.iters,
        warmup=args.warmup,
        device=args.device,
        threads=args.threads)
    kernel_settings = GPU_KERNEL_CHOICES[getattr(args, 'gpu_kernels', 'default')]
    dense_steps = getattr(args, 'dense_steps', None) or []
    settings = [(name, dtype, memory_format, with_cp, kernels) for name in args.models
                for dtype in args.dtype for memory_format in args.memory_format for with_cp in cps
                for kernels in (kernel_settings if uses_gpu_kernels(name) else [None])]
    rows = []
    for name, dtype, memory_format, with_cp, kernels in settings:
        row = dict(
            model=name,
            source=BENCHMARK_MODELS[name].source,
            dtype=dtype,
            memory_format=memory_format,
            with_cp=with_cp,
            gpu_kernels=kernels,
            params=complexity[name].get('params'),
            flops=complexity[name].get('flops', {}),
            flops_error=complexity[name].get('flops_error'),
            peer=args.peers.get(name),
            infer=None,
            train=None)
        spec = dict(base, model=name, dtype=dtype, memory_format=memory_format, with_cp=with_cp)
        if kernels is not None:
            spec['gpu_kernels'] = kernels
        measured = measurements.get
        if 'infer' in args.modes and (not with_cp or False not in cps):
            row['infer'] = measured(dict(spec, mode='infer'))
        if 'train' in args.modes:
            row['train'] = measured(dict(spec, mode='train'))
        if dense_steps:
            row['dense'] = {
                size_label(size):
                measured(dict(spec, mode='train', size=size, batch=args.dense_batch))
                for size in dense_steps
            }
        if getattr(args, 'fuse', False) and row['infer'] is not None:
            row['infer_fused'] = measured(dict(spec, mode='infer', fuse=True))
        if getattr(args, 'cpu_kernels_off', False) and uses_cpu_kernels(name):
            for mode in args.modes:
                if row[mode] is not None:
                    row[f'{mode}_kernels_off'] = measured(dict(spec, mode=mode, cpu_kernels=False))
        if getattr(args, 'compile', False):
            if row['infer'] is not None:
                row['infer_compiled'] = measured(dict(spec, mode='infer', compile=True))
            if 'train' in args.modes:
                row['train_compiled'] = measured(dict(spec, mode='train', compile=True))
        rows.append(row)
    return rows


def _ratio(a: Optional[dict], b: Optional[dict], key: str) -> Optional[float]:
    if not a or not b or a.get(key) is None or not b.get(key):
        return None
    return a[key] / b[key]


def _dense_ratios(a: dict, b: dict) -> dict:
    """The other's step time over ours, per dense size (> 1: ours faster)."""
    return {
        label: _ratio(b['dense'].get(label), result, 'ms_median')
        for label, result in (a.get('dense') or {}).items() if b.get('dense')
    }


def _round_ratios(a: dict, b: dict) -> List[float]:
    # round r of every setting ran in the same pass over the settings, close in time
    return [
        x / y for x, y in zip(a.get('round_images_per_s', []), b.get('round_images_per_s', []))
        if x and y
    ]


def compare_rows(rows: List[dict], args: argparse.Namespace) -> None:
    """Add to each row its ratios to the baseline model and to its peer (same dtype and with_cp;
    the peer's memory format is ``--peer-memory-format`` where given)."""

    def find(name, dtype, memory_format, with_cp, kernels=None):
        kernels = kernels if name in BENCHMARK_MODELS and uses_gpu_kernels(name) else None
        return next(
            (r
             for r in rows if (r['model'], r['dtype'], r['memory_format'], r['with_cp'],
                               r['gpu_kernels']) == (name, dtype, memory_format, with_cp, kernels)),
            None)

    for row in rows:
        peer_format = getattr(args, 'peer_memory_format', None) or row['memory_format']
        baseline = find(getattr(args, 'baseline', None), row['dtype'], peer_format, row['with_cp'])
        if baseline is not None and baseline is not row:
            row['baseline'] = baseline['model']
            row['baseline_ratio'] = dict(
                train=_ratio(row['train'], baseline['train'], 'images_per_s'),
                dense=_dense_ratios(row, baseline))
        peer = find(row['peer'], row['dtype'], peer_format, row['with_cp'], row['gpu_kernels'])
        if peer is None:
            continue
        infer = row['infer'] or (find(row['model'], row['dtype'], row['memory_format'], False)
                                 or {}).get('infer')
        peer_infer = peer['infer'] or (find(peer['model'], row['dtype'], peer_format, False)
                                       or {}).get('infer')
        row['ratio'] = dict(
            infer=None if row['infer'] is None else _ratio(infer, peer_infer, 'images_per_s'),
            train=_ratio(row['train'], peer['train'], 'images_per_s'),
            train_mem=_ratio(row['train'], peer['train'], 'peak_mb'),
            dense=_dense_ratios(row, peer))
        row['peer_memory_format'] = peer_format
        row['round_ratios'] = {
            mode: _round_ratios(row[mode], peer[mode])
            for mode in MODES if row[mode] is not None and peer[mode] is not None
        }


def output_checks(args: argparse.Namespace) -> dict:
    """Identical outputs to each peer, and of the fused / compiled models to the plain ones."""
    checks = dict(peer_checks=[], variant_checks=[])
    if args.no_output_check:
        return checks
    for name, peer in args.peers.items():
        log(f'[benchmark] output check {name} vs {peer}')
        checks['peer_checks'].append(
            dict(model=name, peer=peer, **check_same_output(name, peer, args.size)))
    for flag, variant in (('fuse', 'fused'), ('compile', 'compiled')):
        if getattr(args, flag, False):
            for name in args.models:
                log(f'[benchmark] output check {name} {variant} vs plain')
                checks['variant_checks'].append(check_variant_output(name, args.size, variant))
    return checks


def cp_summary(args: argparse.Namespace, measurements: Measurements) -> dict:
    """The training-step peak memory of one model with and without with_cp."""
    spec = dict(
        model=args.cp_summary_model,
        mode='train',
        batch=args.cp_summary_batch,
        size=args.cp_summary_size,
        dtype='fp32',
        memory_format='channels_first',
        iters=1,
        warmup=args.cp_summary_warmup,
        device=args.device,
        threads=args.threads)
    without = measurements.get(dict(spec, with_cp=False))
    with_cp = measurements.get(dict(spec, with_cp=True))
    summary = {
        'label': BENCHMARK_MODELS[args.cp_summary_model].label or args.cp_summary_model,
        'size': spec['size'],
        'batch': spec['batch'],
        'device': args.device,
        'dtype': 'fp32',
        'memory_format': 'channels_first',
        'without': without,
        'with': with_cp,
        'memory_method': without.get('memory_method') or with_cp.get('memory_method')
    }
    if 'error' not in without and 'error' not in with_cp and without['peak_mb']:
        summary['ratio'] = with_cp['peak_mb'] / without['peak_mb']
    return summary


def run_benchmark(args: argparse.Namespace) -> dict:
    """Run the benchmark for the options of ``tools/analysis/benchmark_backbones.py`` (already
    validated, ``args.peers`` resolved); print the table and return the report (also written to
    ``args.json``)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    isolate = args.isolate == 'process' or (args.isolate == 'auto' and args.device == 'cpu')
    report = dict(
        environment=describe_environment(args),
        isolate=isolate,
        config={
            k: v
            for k, v in vars(args).items() if k != 'list_models'
        })
    measurements = Measurements(isolate, args.timeout)
    report['rows'] = measure_rows(args, measurements, count_complexities(args))
    measurements.add_rounds(getattr(args, 'repeat', 1))
    compare_rows(report['rows'], args)
    report.update(output_checks(args))
    report['gemm'] = None
    if getattr(args, 'gemm', False):
        log('[benchmark] reference GEMM')
        report['gemm'] = gemm_rate(
            args.device, getattr(args, 'gemm_size', 4096), threads=args.threads)
    report['cp_summary'] = None if args.no_cp_summary else cp_summary(args, measurements)
    print_report(report, args)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2, default=str)
        log(f'[benchmark] wrote {args.json}')
    return report
