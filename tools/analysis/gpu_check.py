#!/usr/bin/env python
"""The GPU check: one command that measures, within a few minutes of one GPU, what the CUDA
defaults are decided on (see docs/gpu.md and :mod:`mmmoga.devtools.benchmark.gpu_check`).

It prints its plan and time estimate first, then runs the Triton kernel checks compiled for the
GPU, the numerics of every form of every model against the official op sequence, and the
training-step measurements (fp32 and bf16, at 224 and at the dense size), each model in a worker
process of its own; one JSON line per result goes to ``--out`` as it arrives, and a markdown table
to ``--markdown`` at the end. It needs torch, timm, safetensors, PyYAML, NumPy, mmengine (without
OpenCV) and, for the kernels, Triton: no mmcv, no task library.

Examples::

  # on a GPU (under 6 minutes on one H100 or H200)
  python tools/analysis/gpu_check.py
  # every code path in seconds, on the CPU (the kernels in Triton's interpreter)
  python tools/analysis/gpu_check.py --device cpu --smoke
  # the table again from a results file
  python tools/analysis/gpu_check.py --report work_dirs/gpu_check/results.jsonl
"""
import argparse

from mmmoga.devtools.benchmark import gpu_check


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='gpu_check.py',
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('--device', default='cuda', help="'cuda' (default), 'cuda:1' or 'cpu'")
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='tiny inputs and one step per row: every code path in seconds')
    parser.add_argument(
        '--models',
        nargs='+',
        choices=list(gpu_check.MODELS),
        help=f'the models to measure (default: all of {list(gpu_check.MODELS)})')
    parser.add_argument(
        '--budget',
        type=float,
        default=gpu_check.DEFAULT_BUDGET_S,
        help='seconds the run may take; rows that no longer fit are skipped and listed '
        f'(default {gpu_check.DEFAULT_BUDGET_S})')
    parser.add_argument(
        '--out',
        default='work_dirs/gpu_check/results.jsonl',
        help='the JSON-lines results file (one line per result, written as it arrives)')
    parser.add_argument(
        '--markdown',
        default='work_dirs/gpu_check/table.md',
        help='where the markdown table goes at the end')
    parser.add_argument('--commit', help='the commit to record (default: git rev-parse HEAD)')
    parser.add_argument(
        '--report', metavar='RESULTS', help='print the table of a results file and exit')
    parser.add_argument(
        '--plan', action='store_true', help='print the plan and its time estimate and exit')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.report:
        print(gpu_check.report_markdown(gpu_check.read_results(args.report)))
        return
    mode = 'smoke' if args.smoke else 'full'
    if args.plan:
        print(
            gpu_check.plan(gpu_check.rows_of(args.models or list(gpu_check.MODELS), mode), mode)[0])
        return
    gpu_check.run_gpu_check(
        device=args.device,
        mode=mode,
        models=args.models,
        out=args.out,
        markdown=args.markdown,
        budget_s=args.budget,
        commit=args.commit)


if __name__ == '__main__':
    main()
