"""Training curves from what mmengine's ``LocalVisBackend`` records for a run.

Every OpenMMLab 2.x run whose visualizer has a ``LocalVisBackend`` (the task libraries'
``default_runtime`` configs have one) writes ``<work_dir>/<timestamp>/vis_data/scalars.json``: one
JSON object per logging step, with the training scalars (``loss``, ``loss_*``, ``lr``, ...) at
``step`` = iteration and the validation metrics (``coco/bbox_mAP``, ``mIoU``, ...) at ``step`` =
epoch (epoch-based loops) or iteration. :func:`plot_curves` draws chosen keys from it, one panel
per key, with matplotlib.
"""
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

TRAIN_MARKERS = ('lr', 'iter')  # fields of training records only (validation has neither)


def find_scalar_files(path: str) -> List[str]:
    """``scalars.json`` files of a work dir (newest run first), or ``[path]`` for a file."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: neither a work dir nor a scalars.json file (train first, '
                                'e.g. `python tools/train.py CONFIG`)')
    files = glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json'))
    files += glob.glob(osp.join(path, 'vis_data', 'scalars.json'))
    if not files:
        raise FileNotFoundError(f'{path} holds no */vis_data/scalars.json: was the run logged with '
                                "mmengine's LocalVisBackend (visualizer.vis_backends)?")
    return sorted(files, key=lambda f: (osp.getmtime(f), f), reverse=True)


def load_scalars(path: str) -> List[dict]:
    """The records of one ``scalars.json`` (JSON lines), in order."""
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def split_curves(records: Sequence[dict],
                 keys: Sequence[str]) -> Dict[str, Tuple[List[float], List[float], str]]:
    """``{key: (steps, values, x label)}`` for each key found in the records. Training scalars are
    logged per iteration; validation metrics per epoch when the loop is epoch-based (the training
    records then carry an ``epoch`` field), else per iteration."""
    epoch_based = any('epoch' in r for r in records)
    curves = {}
    for key in keys:
        rows = [r for r in records if key in r]
        if not rows:
            continue
        train = any(marker in rows[0] for marker in TRAIN_MARKERS)
        label = 'epoch' if epoch_based and not train else 'iteration'
        curves[key] = ([r['step'] for r in rows], [r[key] for r in rows], label)
    return curves


def select_run(path: str, keys: Sequence[str]) -> Tuple[str, List[dict]]:
    """The newest run under ``path`` whose scalars contain every key (``make demo`` trains and then
    tests into the same work dir; the test run has metrics but no loss)."""
    seen = []
    for file in find_scalar_files(path):
        records = load_scalars(file)
        available = sorted({k for r in records for k in r})
        if all(any(k in r for r in records) for k in keys):
            return file, records
        seen.append(f'  {file}: {", ".join(available)}')
    raise KeyError(f'no run under {path} records all of {list(keys)}; keys per run:\n' +
                   '\n'.join(seen))


def plot_curves(path: str, keys: Sequence[str], out: str, title: Optional[str] = None) -> str:
    """Plot ``keys`` of the newest run under ``path`` (a work dir or a scalars.json) into ``out``
    (a PNG); returns the scalars.json that was read."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    file, records = select_run(path, keys)
    curves = split_curves(records, keys)
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        steps, values, xlabel = curves[key]
        ax.plot(steps, values, marker='o' if len(steps) < 30 else None, linewidth=1.5)
        ax.set_title(key)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if len(steps) < 30:
            ax.annotate(
                f'{values[-1]:.3g}', (steps[-1], values[-1]),
                textcoords='offset points',
                xytext=(-8, 6),
                ha='right')
    fig.suptitle(title or osp.relpath(file))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return file
