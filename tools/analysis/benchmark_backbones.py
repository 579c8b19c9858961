#!/usr/bin/env python
"""Benchmark mmmoga backbones, and their peers side by side in the same run.

Per model and setting (dtype x memory format x ``with_cp``) it prints: parameters (M), FLOPs (G) at
``--size`` and at ``--dense-size`` (mmengine counter, one image, backbone forward, FLOPs = MACs),
inference and training-step throughput (images/s) and peak memory for each, and, where a peer is in
the run, our/peer ratios. A last line compares the training-step peak memory of MogaNet-S at
512x512, batch 2, with and without ``with_cp``.

The model table, the measurements and the report live in :mod:`mmmoga.devtools.benchmark`; this
is its command line. What is measured and how is explained at the end of ``--help``.

Models: ``--list-models``. Ours, as ``mmmoga.create_backbone`` names them:
``moganet_{xt,t,s,b,l,xl}``, ``hornet_{t,s,b,l}_{7x7,gf}``, ``conv2former_{n,t,s,b,l}``,
``inceptionnext_{a,t,s,b}``; peers: ``mmpretrain_hornet_{t,s,b,l}_{7x7,gf}`` (mmpretrain's
HorNet), ``convnext_{t,s,b,l}`` (mmpretrain's ConvNeXt), ``timm_inceptionnext_*`` and
``timm_convnext_*`` (timm, when installed). A ``_cls`` suffix (HorNet, Conv2Former,
InceptionNeXt, ConvNeXt) builds the classification trunk instead of the 4-output backbone, a
``_ref`` suffix our backbone computed op by op as the official code writes it. Hyphens are taken
for underscores, and HorNet's default mixer may be left out (``hornet-t`` is ``hornet_t_7x7``).
HorNet and mmpretrain's HorNet are also checked for identical outputs (mmpretrain's weights copied
into ours).

Examples::

  # the default small CPU run (a few minutes on 2 cores)
  python tools/analysis/benchmark_backbones.py
  # dense backbones on a GPU, every setting, MogaNet-S with_cp summary (see also docs/gpu.md)
  python tools/analysis/benchmark_backbones.py --device cuda --batch 64 --iters 30 --warmup 10 \
      --models moganet_s hornet_t_7x7 mmpretrain_hornet_t_7x7 inceptionnext_t convnext_t \
      --dtype fp32 bf16 --memory-format channels_first channels_last --with-cp both \
      --markdown --json work_dirs/benchmark/dense.json
  # fused and compiled MogaNet-S against the machine's GEMM rate (2 CPU cores)
  python tools/analysis/benchmark_backbones.py --models moganet_s --batch 4 --iters 5 \
      --fuse --compile --gemm --no-cp-summary
  # InceptionNeXt-T vs ConvNeXt-T as classifiers, side by side (the paper's comparison)
  python tools/analysis/benchmark_backbones.py --device cuda --batch 128 --iters 30 --warmup 10 \
      --models inceptionnext_t_cls convnext_t_cls --dtype fp32 bf16 --no-cp-summary --markdown
"""
import argparse
from typing import Optional, Sequence

import torch

from mmmoga.devtools import benchmark


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='benchmark_backbones.py',
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1] + '\n\n' + benchmark.__doc__.split('\n\n', 1)[1])
    parser.add_argument(
        '--models',
        nargs='+',
        default=['moganet_xt', 'inceptionnext_a', 'hornet_t_7x7', 'mmpretrain_hornet_t_7x7'],
        help='models to benchmark (see --list-models); default: moganet_xt inceptionnext_a '
        'hornet_t_7x7 mmpretrain_hornet_t_7x7')
    parser.add_argument('--list-models', action='store_true', help='list the models and exit')
    parser.add_argument(
        '--peer',
        nargs='+',
        default=[],
        metavar='OURS=PEER',
        help='compare OURS with PEER (added to the run if missing), e.g. '
        'inceptionnext_t=convnext_t hornet_t_7x7=mmpretrain_hornet_t_7x7; without it, a model is '
        'compared with its _ref model (reference_ops=True, the official op sequence), else '
        'hornet_* with mmpretrain_hornet_* and inceptionnext_* with timm_inceptionnext_* or '
        'convnext_*, when those are in the run')
    parser.add_argument('--batch', type=int, default=2, help='batch size (default 2)')
    parser.add_argument(
        '--size',
        type=int,
        default=224,
        help='input size of the timings and of the first FLOPs column (224)')
    parser.add_argument(
        '--dense-size', type=int, default=512, help='input size of the second FLOPs column (512)')
    parser.add_argument(
        '--dense-steps',
        nargs='+',
        default=[],
        metavar='HxW',
        help='also time a training step at these input sizes and --dense-batch, e.g. 800x1344 '
        '512x512 (the Mask R-CNN and UperNet inputs): the dense ms columns')
    parser.add_argument(
        '--dense-batch', type=int, default=2, help='batch of the --dense-steps (default 2)')
    parser.add_argument(
        '--dtype',
        nargs='+',
        choices=benchmark.DTYPES,
        default=['fp32'],
        help='fp32, bf16 and/or fp16 (autocast; fp16 training with a GradScaler); default fp32')
    parser.add_argument(
        '--memory-format',
        nargs='+',
        choices=benchmark.MEMORY_FORMATS,
        default=['default'],
        help='default: the model as built, from an NCHW input (what a config runs; our '
        'backbones pick their layout by device); channels_first / channels_last: our '
        'backbones built with channels_last=False / True, and for channels_last the model and '
        'the input converted (default: default)')
    parser.add_argument(
        '--gpu-kernels',
        choices=tuple(benchmark.GPU_KERNEL_CHOICES),
        default='default',
        help='mmmoga\'s Triton kernels for the models that have them: on, off, both (a row '
        'each), or default (the library\'s choice, MMMOGA_GPU_KERNELS)')
    parser.add_argument(
        '--baseline',
        metavar='MODEL',
        help='also divide every row by this model (added to the run), e.g. convnext_t or '
        'timm_convnext_t: training img/s and dense step times')
    parser.add_argument(
        '--peer-memory-format',
        choices=benchmark.MEMORY_FORMATS,
        help='compare every row with its peer in this memory format (which must be in '
        '--memory-format), e.g. ours in channels_last against the reference as it runs, in '
        'channels_first; default: the row\'s own format')
    parser.add_argument(
        '--with-cp',
        choices=tuple(benchmark.CP_CHOICES),
        default='off',
        help='activation checkpointing: off, on or both (default off)')
    parser.add_argument(
        '--modes',
        nargs='+',
        choices=benchmark.MODES,
        default=list(benchmark.MODES),
        help='what to time: infer and/or train (default both)')
    parser.add_argument('--iters', type=int, default=3, help='timed steps (default 3)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps first (default 1)')
    parser.add_argument(
        '--repeat',
        type=int,
        default=1,
        help='measure every setting this many times, in interleaved rounds, and keep its median '
        'round; the notes give the spread (default 1)')
    parser.add_argument(
        '--threads', type=int, default=None, help='torch CPU threads (default: torch\'s default)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument(
        '--isolate',
        choices=benchmark.ISOLATE_CHOICES,
        default='auto',
        help='process: every measurement in a fresh interpreter (reliable CPU peak memory); '
        'none: all in this process; auto (default): process on CPU, none on CUDA')
    parser.add_argument(
        '--timeout',
        type=float,
        default=1800,
        help='seconds per isolated measurement (default 1800)')
    parser.add_argument(
        '--fuse',
        action='store_true',
        help='also time inference after mmmoga.models.fuse_for_inference (BNs '
        'and scales folded into convs) and check its outputs')
    parser.add_argument(
        '--cpu-kernels-off',
        action='store_true',
        help='also time MogaNet, Conv2Former and InceptionNeXt with mmmoga\'s CPU kernels off '
        '(mmmoga.models.layers.cpu_ops: fused conv + activation without grad, the phase-'
        'decomposed dilated conv), to show the switch both ways')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also time torch.compile (default mode): compiled throughput and '
        'compile time (first step), and check the compiled outputs')
    parser.add_argument(
        '--gemm',
        action='store_true',
        help='measure an fp32 GEMM and add GMAC/s columns (MACs at --size x '
        'images/s) and their ratio to the GEMM')
    parser.add_argument(
        '--gemm-size',
        type=int,
        default=4096,
        help='matrix size of the --gemm reference (default 4096)')
    parser.add_argument('--no-flops', action='store_true', help='skip the FLOPs count')
    parser.add_argument(
        '--no-output-check',
        action='store_true',
        help='skip the identical-output check of ours vs peer')
    parser.add_argument(
        '--no-cp-summary', action='store_true', help='skip the with_cp peak-memory summary line')
    parser.add_argument(
        '--cp-summary-model',
        default='moganet_s',
        help='model of the with_cp summary (default moganet_s)')
    parser.add_argument('--cp-summary-size', type=int, default=512, help='default 512')
    parser.add_argument('--cp-summary-batch', type=int, default=2, help='default 2')
    parser.add_argument(
        '--cp-summary-warmup',
        type=int,
        default=1,
        help='untimed steps before the measured one (default 1)')
    parser.add_argument('--markdown', action='store_true', help='print the table as Markdown')
    parser.add_argument('--json', metavar='OUT', help='also write every figure to this JSON file')
    args = parser.parse_args(argv)
    if args.list_models:
        return args

    def check_name(name: str, what: str) -> str:
        try:
            return benchmark.canonical_name(name, what)
        except KeyError as error:
            parser.error(error.args[0])

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
            peer = benchmark.default_peer(name, args.models)
            if peer:
                peers[name] = peer
    args.peers = peers
    if args.peer_memory_format and args.peer_memory_format not in args.memory_format:
        parser.error(f'--peer-memory-format {args.peer_memory_format} is not measured: add it to '
                     f'--memory-format (now {" ".join(args.memory_format)})')
    if args.baseline:
        args.baseline = check_name(args.baseline, 'baseline')
        if args.baseline not in args.models:
            args.models.append(args.baseline)
    try:
        args.dense_steps = [benchmark.size_label(size) for size in dict.fromkeys(args.dense_steps)]
    except ValueError as error:
        parser.error(f'--dense-steps: {error}')
    args.cp_summary_model = check_name(args.cp_summary_model, 'cp summary model')
    for field in ('batch', 'size', 'dense_size', 'iters', 'cp_summary_size', 'cp_summary_batch',
                  'gemm_size', 'repeat', 'dense_batch'):
        if getattr(args, field) < 1:
            parser.error(f'--{field.replace("_", "-")} must be >= 1')
    if args.warmup < 0 or args.cp_summary_warmup < 0:
        parser.error('--warmup and --cp-summary-warmup must be >= 0')
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    if args.gemm and args.no_flops:
        parser.error('--gemm needs the FLOPs count: drop --no-flops')
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
        benchmark.list_models()
        return {}
    return benchmark.run_benchmark(args)


if __name__ == '__main__':
    main()
