"""Reporting a benchmark run: its table (plain or Markdown), notes, environment and summary line."""
import datetime
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
from typing import List, Optional, Sequence, Tuple

import torch

from .. import PACKAGE_PARENT

MODES = ('infer', 'train')


def format_number(value, digits: int = 1, suffix: str = '') -> str:
    """``value`` with ``digits`` decimals and ``suffix``; '-' for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.{digits}f}{suffix}'


def _rate(result: Optional[dict]) -> str:
    result = result or {}
    return 'err' if 'error' in result else format_number(result.get('images_per_s'))


def _speedup(result: Optional[dict], base: Optional[dict]) -> Optional[float]:
    if not result or not base or not result.get('images_per_s') or not base.get('images_per_s'):
        return None
    return result['images_per_s'] / base['images_per_s']


def _ms(result: Optional[dict]) -> str:
    result = result or {}
    return 'err' if 'error' in result else format_number(result.get('ms_median'))


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
                format_number((ratio.get('dense') or {}).get(label), 2, 'x')
            ]
        if baseline:
            versus = row.get('baseline_ratio') or {}
            extra += [format_number(versus.get('train'), 2, 'x')]
            extra += [
                format_number((versus.get('dense') or {}).get(label), 2, 'x')
                for label in dense_sizes
            ]
        if fused:
            extra += [
                _rate(row.get('infer_fused')),
                format_number(_speedup(row.get('infer_fused'), infer), 2, 'x')
            ]
        if kernels_off:
            off = [row.get('infer_kernels_off'), row.get('train_kernels_off')]
            extra += [_rate(r) if r else '-' for r in off]
            extra += [format_number(_speedup(on, r), 2, 'x') for on, r in zip((infer, train), off)]
        if compiled:
            times = [(row.get(k) or {}).get('compile_s')
                     for k in ('infer_compiled', 'train_compiled')]
            extra += [
                _rate(row.get('infer_compiled')),
                _rate(row.get('train_compiled')),
                format_number(_speedup(row.get('infer_compiled'), infer), 2, 'x'),
                format_number(_speedup(row.get('train_compiled'), train), 2, 'x'),
                '/'.join(format_number(t) for t in times)
            ]
        if gemm:
            macs = flops.get(size)
            rates = [
                None if macs is None or not r.get('images_per_s') else factor * macs *
                r['images_per_s'] / 1e9 for factor, r in ((1, infer), (3, train))
            ]
            extra += [format_number(r)
                      for r in rates] + [format_number(r and r / gemm, 2) for r in rates]
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
            format_number(row['params'] / 1e6 if row.get('params') is not None else None, 2),
            *[
                format_number(flops[s] / 1e9 if flops.get(s) is not None else None, 2)
                for s in sizes
            ],
            'err' if 'error' in infer else format_number(infer.get('images_per_s')),
            'err' if 'error' in infer else format_number(infer.get('peak_mb')),
            'err' if 'error' in train else format_number(train.get('images_per_s')),
            'err' if 'error' in train else format_number(train.get('peak_mb')),
            row.get('peer') or '-',
            format_number(ratio.get('infer'), 2, 'x'),
            format_number(ratio.get('train'), 2, 'x'),
            format_number(ratio.get('train_mem'), 2, 'x'),
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


def _script(path: str) -> str:
    """How a command names the script at ``path``: ``python tools/...`` in the checkout."""
    path = os.path.abspath(path)
    if path.startswith(PACKAGE_PARENT + os.sep):
        return 'python ' + os.path.relpath(path, PACKAGE_PARENT)
    return os.path.basename(path)


def git_commit() -> str:
    """The checkout's commit (``-dirty`` with uncommitted changes), or 'unknown'."""
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                                cwd=PACKAGE_PARENT,
                                capture_output=True,
                                text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=PACKAGE_PARENT,
                               capture_output=True,
                               text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return (commit + '-dirty' * bool(dirty)) if commit else 'unknown'


def _memory_gib() -> Optional[float]:
    try:
        with open('/proc/meminfo') as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith('MemTotal'))
        return round(kib / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        return None


def describe_environment(args) -> dict:
    """What a figure needs beside it: the command, the date (UTC), the commit, the machine
    (device, CPU cores, memory) and the library versions."""
    env = dict(
        command=' '.join([_script(sys.argv[0])] + [shlex.quote(a) for a in sys.argv[1:]]),
        date=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d'),
        commit=git_commit(),
        cpu_cores=os.cpu_count(),
        memory_gib=_memory_gib(),
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


def print_report(report: dict, args) -> None:
    """Print the table, the notes and the with_cp summary line of a run; keep the notes (and the
    summary line) in ``report``."""
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
