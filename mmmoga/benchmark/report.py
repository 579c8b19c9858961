"""The benchmark's run over models and settings, and its table, notes and summary line."""
import argparse
import json
import math
import os
import os.path as osp
import platform
import statistics
import sys
from typing import List, Optional, Sequence, Tuple

import torch

from .measure import (LAYOUT_ARGUMENT, check_same_output, check_variant_output, count_complexity,
                      gemm_rate, run_measurement, size_label)
from .zoo import FAMILY_LABELS, MODEL_ZOO, build_model, uses_cpu_kernels, uses_gpu_kernels

DTYPES = ('fp32', 'bf16', 'fp16')
MEMORY_FORMATS = tuple(LAYOUT_ARGUMENT)
MODES = ('infer', 'train')
CP_CHOICES = ('off', 'on', 'both')
#: --gpu-kernels -> the settings measured (None: the library's default, MMMOGA_GPU_KERNELS)
GPU_KERNEL_CHOICES = dict(default=[None], on=[True], off=[False], both=[False, True])
ISOLATE_CHOICES = ('auto', 'process', 'none')


def _fmt(value, digits: int = 1, suffix: str = '') -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}{suffix}'


def _rate(result: Optional[dict]) -> str:
    result = result or {}
    return 'err' if 'error' in result else _fmt(result.get('images_per_s'))


def _speedup(result: Optional[dict], base: Optional[dict]) -> Optional[float]:
    if not result or not base or not result.get('images_per_s') or not base.get('images_per_s'):
        return None
    return result['images_per_s'] / base['images_per_s']


def _ms(result: Optional[dict]) -> str:
    result = result or {}
    return 'err' if 'error' in result else _fmt(result.get('ms_median'))


def table_rows(rows: List[dict],
               size: int,
               dense_size: int,
               gemm: Optional[float] = None) -> Tuple[List[str], List[List[str]]]:
    """Header and cells of the table. Optional columns appear when a row holds their figures:
    ``gpu_kernels`` (on/off), ``dense`` (median ms of a training step per dense size, and the
    peer's and baseline's time over ours), ``baseline_ratio`` (ours / the ``--baseline`` model),
    ``infer_fused`` (fused inference), ``infer_compiled`` / ``train_compiled`` (torch.compile),
    and, with ``gemm`` (GMAC/s of the reference GEMM), MAC rates at ``size`` (train: 3x the
    forward MACs, the usual forward + backward estimate) and their ratio to the GEMM."""
    sizes = [size] if dense_size == size else [size, dense_size]
    with_kernels = any(row.get('gpu_kernels') is not None for row in rows)
    dense_sizes = list(dict.fromkeys(s for row in rows for s in (row.get('dense') or {})))
    baseline = next((row['baseline'] for row in rows if row.get('baseline')), None)
    fused = any(row.get('infer_fused') for row in rows)
    kernels_off = any(row.get('infer_kernels_off') or row.get('train_kernels_off') for row in rows)
    compiled = any(row.get('infer_compiled') or row.get('train_compiled') for row in rows)
    header = ['model', 'dtype', 'format', 'with_cp'] + (['kernels'] if with_kernels else [])
    header += ['params (M)'] + [f'GFLOPs@{s}' for s in sizes]
    header += [
        'infer img/s', 'infer peak MB', 'train img/s', 'train peak MB', 'peer', 'infer x',
        'train x', 'train mem x'
    ]
    for label in dense_sizes:
        header += [f'dense ms@{label}', f'dense x@{label}']
    if baseline:
        header += [f'train x {baseline}'] + [f'dense x@{label} {baseline}' for label in dense_sizes]
    if fused:
        header += ['fused img/s', 'fused x']
    if kernels_off:
        header += ['kernels off: infer img/s', 'train img/s', 'kernels x: infer', 'train']
    if compiled:
        header += [
            'compiled infer img/s', 'compiled train img/s', 'compiled infer x', 'compiled train x',
            'compile s'
        ]
    if gemm:
        header += ['infer GMAC/s', 'train GMAC/s', 'infer/GEMM', 'train/GEMM']
    body = []
    for row in rows:
        infer, train, ratio = row.get('infer') or {}, row.get('train') or {}, row.get('ratio') or {}
        flops = row.get('flops') or {}
        extra = []
        for label in dense_sizes:
            extra += [
                _ms((row.get('dense') or {}).get(label)),
                _fmt((ratio.get('dense') or {}).get(label), 2, 'x')
            ]
        if baseline:
            versus = row.get('baseline_ratio') or {}
            extra += [_fmt(versus.get('train'), 2, 'x')]
            extra += [_fmt((versus.get('dense') or {}).get(label), 2, 'x') for label in dense_sizes]
        if fused:
            extra += [
                _rate(row.get('infer_fused')),
                _fmt(_speedup(row.get('infer_fused'), infer), 2, 'x')
            ]
        if kernels_off:
            off = [row.get('infer_kernels_off'), row.get('train_kernels_off')]
            extra += [_rate(r) if r else '-' for r in off]
            extra += [_fmt(_speedup(on, r), 2, 'x') for on, r in zip((infer, train), off)]
        if compiled:
            times = [(row.get(k) or {}).get('compile_s')
                     for k in ('infer_compiled', 'train_compiled')]
            extra += [
                _rate(row.get('infer_compiled')),
                _rate(row.get('train_compiled')),
                _fmt(_speedup(row.get('infer_compiled'), infer), 2, 'x'),
                _fmt(_speedup(row.get('train_compiled'), train), 2, 'x'),
                '/'.join(_fmt(t) for t in times)
            ]
        if gemm:
            macs = flops.get(size)
            rates = [
                None if macs is None or not r.get('images_per_s') else factor * macs *
                r['images_per_s'] / 1e9 for factor, r in ((1, infer), (3, train))
            ]
            extra += [_fmt(r) for r in rates] + [_fmt(r and r / gemm, 2) for r in rates]
        body.append([
            row['model'],
            row['dtype'],
            row['memory_format'].replace('channels_', 'ch-'),
            'yes' if row['with_cp'] else 'no',
            *([{
                None: '-',
                True: 'on',
                False: 'off'
            }[row.get('gpu_kernels')]] if with_kernels else []),
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
            *extra,
        ])
    return header, body


LEFT_COLUMNS = ('model', 'dtype', 'format', 'with_cp', 'kernels', 'peer')


def format_plain(header: List[str],
                 body: List[List[str]],
                 left_columns: Sequence[str] = LEFT_COLUMNS) -> str:
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    left = {i for i, name in enumerate(header) if name in left_columns}

    def line(cells):
        return '  '.join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return '\n'.join([line(header), line(['-' * w for w in widths])] + [line(r) for r in body])


def format_markdown(header: List[str],
                    body: List[List[str]],
                    left_columns: Sequence[str] = LEFT_COLUMNS) -> str:
    align = ['---' if name in left_columns else '---:' for name in header]
    lines = ['| ' + ' | '.join(cells) + ' |' for cells in [header, align] + body]
    return '\n'.join(lines)


def describe_environment(args) -> dict:
    env = dict(
        torch=torch.__version__,
        python=platform.python_version(),
        device=args.device,
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
           'CPU: growth of the peak resident set size over the RSS with model + input resident' +
           (', one fresh process per measurement' if report['isolate'] else
            ', in-process (memory freed by an earlier measurement can be reused, so the figure '
            'may read low: use --isolate process)'))
    notes = [
        f'device {report["environment"]["device_name"]} ({args.device}), torch '
        f'{torch.__version__}, threads {report["environment"]["threads"]}; batch {args.batch}, '
        f'{args.size}x{args.size}, {args.warmup} warmup + {args.iters} timed steps' +
        (f', median of {args.repeat} interleaved rounds.' if getattr(args, 'repeat', 1) > 1 else
         '.') + (' Steps timed with CUDA events.' if args.device == 'cuda' else ''),
        'train step = forward + backward of sum(output.float().mean()) + SGD step (no momentum); '
        'bf16/fp16 = autocast (fp32 weights); fp16 training through torch.amp.GradScaler '
        '(initial scale 2**16, as mmengine\'s AmpOptimWrapper).',
        'format: default = the model as built from an NCHW input (what a config runs; our '
        'backbones choose their layout by device), ch-first/ch-last = channels_last=False/True '
        '(ch-last also converts the model and the input).',
        f'peak memory = {mem}; includes gradients for the train step.',
        'FLOPs = MACs, mmengine counter, batch 1, fp32 (FFTs of HorNet GF not counted).',
        'x columns = ours / peer in the same setting' +
        (f' (the peer in {args.peer_memory_format})' if getattr(args, 'peer_memory_format', None)
         else '') + ': throughput (>1: ours faster), train peak memory (<1: ours smaller).',
    ]
    if any(row.get('dense') for row in report['rows']):
        notes.append(f'dense ms = median time of a training step at batch {args.dense_batch} '
                     '(the detection/segmentation input sizes); dense x = the other model\'s '
                     'time / ours (>1: ours faster).')
    if any(row.get('gpu_kernels') is not None for row in report['rows']):
        notes.append('kernels = mmmoga\'s Triton kernels (mmmoga.models.layers.gpu_ops, '
                     'MMMOGA_GPU_KERNELS) on or off; peers and reference rows never run them.')
    if any(row.get('baseline') for row in report['rows']):
        notes.append(f'x {args.baseline} columns = ours / {args.baseline} in the same dtype and '
                     'format.')
    if report.get('gemm'):
        gemm = report['gemm']
        notes.append(f'GEMM: {gemm["n"]}x{gemm["n"]} fp32 matrix product, '
                     f'{gemm["gmac_per_s"]:.1f} GMAC/s in this run; GMAC/s columns = MACs at '
                     f'{args.size} x images/s (train: 3x the forward MACs).')
    if any(row.get('infer_fused') for row in report['rows']):
        notes.append('fused = mmmoga.models.fuse_for_inference (BNs and scales folded into convs); '
                     'fused x = fused / plain inference throughput.')
    if any(row.get('infer_kernels_off') or row.get('train_kernels_off') for row in report['rows']):
        notes.append('kernels off = the same model with mmmoga.models.layers.cpu_kernels(False) '
                     '(MMMOGA_CPU_KERNELS=0); kernels x = default / kernels-off throughput.')
    if any(row.get('infer_compiled') or row.get('train_compiled') for row in report['rows']):
        notes.append('compiled = torch.compile (default mode); compile s = the first step '
                     '(tracing and compilation, infer/train), timed before the warmup steps.')
    if getattr(args, 'repeat', 1) > 1:
        for row in report['rows']:
            for mode, ratios in (row.get('round_ratios') or {}).items():
                if len(ratios) > 1:
                    notes.append(
                        f'{row["model"]} {row["memory_format"]} / {row["peer"]} '
                        f'{row["peer_memory_format"]} {mode} x, round '
                        f'by round: {", ".join(f"{r:.2f}" for r in ratios)} (median '
                        f'{statistics.median(ratios):.2f}; the table takes each setting\'s '
                        'median round).')
            spreads = [(mode, (row.get(mode) or {}).get('spread')) for mode in MODES]
            spreads += [(f'dense@{label}', result.get('spread'))
                        for label, result in (row.get('dense') or {}).items()]
            spreads = [f'{mode} {spread:.0%}' for mode, spread in spreads if spread is not None]
            if spreads:
                notes.append(f'{row["model"]} {row["dtype"]} {row["memory_format"]} spread of the '
                             f'rounds (max - min) / median: {", ".join(spreads)}.')
    for check in report.get('variant_checks', []):
        notes.append(f'{check["model"]} {check["variant"]} vs plain (fp32, eval): ' +
                     (f'error {check["error"]}' if 'error' in
                      check else f'max relative difference {check["relative_error"]:.1e}'))
    for check in report['peer_checks']:
        notes.append(f'{check["model"]} vs {check["peer"]}: {check["note"]}' +
                     ('' if not check.get('checked') else ' -> identical' if check.
                      get('same') else ' -> DIFFERENT'))
    for row in report['rows']:
        for mode in MODES + ('infer_fused', 'infer_compiled', 'train_compiled', 'infer_kernels_off',
                             'train_kernels_off'):
            if 'error' in (row.get(mode) or {}):
                notes.append(f'error: {row["model"]} {row["dtype"]} {row["memory_format"]} '
                             f'with_cp={row["with_cp"]} {mode}: {row[mode]["error"]}')
        for label, result in (row.get('dense') or {}).items():
            if 'error' in result:
                notes.append(f'error: {row["model"]} {row["dtype"]} {row["memory_format"]} '
                             f'dense step at {label}: {result["error"]}')
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


def list_models() -> None:
    """Print every model of the zoo with its source and description."""
    for name, entry in MODEL_ZOO.items():
        print(f'{name:32s} {entry.source:10s} {entry.description}')


def run_benchmark(args: argparse.Namespace) -> dict:
    """Run the benchmark for the options of ``tools/analysis/benchmark_backbones.py`` (already
    validated, ``args.peers`` resolved); print the table and return the report (also written to
    ``args.json``)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    isolate = args.isolate == 'process' or (args.isolate == 'auto' and args.device == 'cpu')
    cps = {'off': [False], 'on': [True], 'both': [False, True]}[args.with_cp]
    report = dict(
        environment=describe_environment(args),
        isolate=isolate,
        config={
            k: v
            for k, v in vars(args).items() if k != 'list_models'
        },
        rows=[],
        peer_checks=[],
        cp_summary=None)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    complexity = {}
    for name in args.models:
        if args.no_flops:
            complexity[name] = dict(
                params=sum(p.numel() for p in build_model(name).parameters()), flops={})
        else:
            log(f'[benchmark] counting FLOPs of {name}')
            try:
                complexity[name] = count_complexity(name, sorted({args.size, args.dense_size}))
            except Exception as error:  # noqa: BLE001
                complexity[name] = dict(
                    params=None, flops={}, flops_error=f'{type(error).__name__}: {error}'[:300])

    cache = {}

    def measured(spec: dict) -> dict:
        key = json.dumps(spec, sort_keys=True)
        if key not in cache:
            log(f'[benchmark] {spec["model"]} {spec["mode"]} {spec["dtype"]} '
                f'{spec["memory_format"]} with_cp={spec["with_cp"]} size={spec["size"]}' +
                ''.join(f' {k}' for k in ('fuse', 'compile') if spec.get(k)) +
                (' cpu_kernels=off' if spec.get('cpu_kernels') is False else '') +
                ('' if spec.get('gpu_kernels') is
                 None else f' gpu_kernels={"on" if spec["gpu_kernels"] else "off"}'))
            cache[key] = run_measurement(spec, isolate, args.timeout)
        return cache[key]

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
    for name, dtype, memory_format, with_cp, kernels in settings:
        row = dict(
            model=name,
            source=MODEL_ZOO[name].source,
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
        report['rows'].append(row)

    # more rounds, interleaved over every setting (a neighbour's load or the GPU's clocks move
    # single measurements by 10-30%); each setting keeps its median round, and the spread
    # (max - min) / median of its rounds
    rounds = {key: [result] for key, result in cache.items()}
    for round_index in range(1, getattr(args, 'repeat', 1)):
        for key in rounds:
            spec = json.loads(key)
            log(f'[benchmark] round {round_index + 1}: {spec["model"]} {spec["mode"]} '
                f'{spec["memory_format"]} size={spec["size"]}')
            rounds[key].append(run_measurement(spec, isolate, args.timeout))
    for key, results in rounds.items():
        rates = [r.get('images_per_s') for r in results]
        timed = sorted((r for r in results if r.get('images_per_s')),
                       key=lambda r: r['images_per_s'])
        result = cache[key]
        if timed:
            median = dict(timed[(len(timed) - 1) // 2])  # the lower median: a measured round
            fastest, slowest = timed[-1]['images_per_s'], timed[0]['images_per_s']
            result.clear()
            result.update(median)
            result['spread'] = (fastest - slowest) / median['images_per_s']
        result['round_images_per_s'] = rates

    def find(name, dtype, memory_format, with_cp, kernels=None):
        kernels = kernels if name in MODEL_ZOO and uses_gpu_kernels(name) else None
        return next((r for r in report['rows']
                     if (r['model'], r['dtype'], r['memory_format'], r['with_cp'],
                         r['gpu_kernels']) == (name, dtype, memory_format, with_cp, kernels)), None)

    def dense_ratios(a: dict, b: dict) -> dict:
        # the other's step time over ours (> 1: ours faster)
        return {
            label: ratio(b['dense'].get(label), result, 'ms_median')
            for label, result in (a.get('dense') or {}).items() if b.get('dense')
        }

    def ratio(a: Optional[dict], b: Optional[dict], key: str) -> Optional[float]:
        if not a or not b or a.get(key) is None or not b.get(key):
            return None
        return a[key] / b[key]

    def round_ratios(a: dict, b: dict) -> List[float]:
        # round r of every setting ran in the same pass over the settings, close in time
        return [
            x / y for x, y in zip(a.get('round_images_per_s', []), b.get('round_images_per_s', []))
            if x and y
        ]

    for row in report['rows']:
        peer_format = getattr(args, 'peer_memory_format', None) or row['memory_format']
        baseline = find(getattr(args, 'baseline', None), row['dtype'], peer_format, row['with_cp'])
        if baseline is not None and baseline is not row:
            row['baseline'] = baseline['model']
            row['baseline_ratio'] = dict(
                train=ratio(row['train'], baseline['train'], 'images_per_s'),
                dense=dense_ratios(row, baseline))
        peer = find(row['peer'], row['dtype'], peer_format, row['with_cp'], row['gpu_kernels'])
        if peer is None:
            continue
        infer = row['infer'] or (find(row['model'], row['dtype'], row['memory_format'], False)
                                 or {}).get('infer')
        peer_infer = peer['infer'] or (find(peer['model'], row['dtype'], peer_format, False)
                                       or {}).get('infer')
        row['ratio'] = dict(
            infer=None if row['infer'] is None else ratio(infer, peer_infer, 'images_per_s'),
            train=ratio(row['train'], peer['train'], 'images_per_s'),
            train_mem=ratio(row['train'], peer['train'], 'peak_mb'),
            dense=dense_ratios(row, peer))
        row['peer_memory_format'] = peer_format
        row['round_ratios'] = {
            mode: round_ratios(row[mode], peer[mode])
            for mode in MODES if row[mode] is not None and peer[mode] is not None
        }

    if not args.no_output_check:
        for name, peer in args.peers.items():
            log(f'[benchmark] output check {name} vs {peer}')
            report['peer_checks'].append(
                dict(model=name, peer=peer, **check_same_output(name, peer, args.size)))

    report['variant_checks'] = []
    for flag, variant in (('fuse', 'fused'), ('compile', 'compiled')):
        if getattr(args, flag, False) and not args.no_output_check:
            for name in args.models:
                log(f'[benchmark] output check {name} {variant} vs plain')
                report['variant_checks'].append(check_variant_output(name, args.size, variant))
    report['gemm'] = None
    if getattr(args, 'gemm', False):
        log('[benchmark] reference GEMM')
        report['gemm'] = gemm_rate(
            args.device, getattr(args, 'gemm_size', 4096), threads=args.threads)

    if not args.no_cp_summary:
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
        without = measured(dict(spec, with_cp=False))
        with_cp = measured(dict(spec, with_cp=True))
        family, _, variant = args.cp_summary_model.partition('-')
        label = FAMILY_LABELS.get(family, family) + '-' + variant.upper()
        summary = {
            'label': label,
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
        report['cp_summary'] = summary

    header, body = table_rows(report['rows'], args.size, args.dense_size, (report['gemm']
                                                                           or {}).get('gmac_per_s'))
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
