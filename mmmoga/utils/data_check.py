"""Fail fast, with a useful message, when a config's dataset is not on disk or is malformed.

:func:`check_dataset_paths` (called by ``tools/train.py`` and ``tools/test.py`` before anything is
built) raises ``FileNotFoundError`` for missing annotation files and data folders, and
:class:`DatasetError` for annotation files that are empty, truncated or not in the expected format
(COCO-style JSON needs ``images``, ``annotations`` and ``categories``; ImageNet-style lists need
``<path> <label>`` lines) and for data folders that are empty.
"""
import json
import os
import os.path as osp
from typing import Iterable, List, Optional, Tuple

from mmengine.config import Config

__all__ = [
    'DatasetError', 'missing_dataset_paths', 'malformed_dataset_files', 'check_dataset_paths'
]

#: JSON annotation files up to this size are parsed in full; larger ones are checked at both ends
FULL_PARSE_BYTES = 64 << 20


class DatasetError(ValueError):
    """A dataset file exists but cannot be used; the message names the file and the fix."""


# dataset type -> (name, where to get it, expected layout under data_root)
DATASET_HINTS = {
    'CocoDataset': ('COCO 2017', 'https://cocodataset.org/#download (train2017.zip, val2017.zip, '
                    'annotations_trainval2017.zip)', '{annotations,train2017,val2017}/'),
    'ADE20KDataset': ('ADE20K (SceneParsing)',
                      'http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip',
                      '{images,annotations}/{training,validation}/'),
    'ImageNet': ('ImageNet-1K', 'https://image-net.org/download.php', '{train,val}/ + meta/'),
}


def _leaf_datasets(dataset_cfg) -> Iterable:
    """Unwrap RepeatDataset / ClassBalancedDataset / ConcatDataset configs."""
    if 'datasets' in dataset_cfg:
        for sub in dataset_cfg['datasets']:
            yield from _leaf_datasets(sub)
    elif 'dataset' in dataset_cfg:
        yield from _leaf_datasets(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def _dataset_paths(cfg: Config, loaders: Iterable[str]):
    """(loader, dataset cfg, 'ann_file' or 'data_prefix', full path) of each local path."""
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg or 'dataset' not in loader_cfg:
            continue
        for ds in _leaf_datasets(loader_cfg['dataset']):
            root = ds.get('data_root', '') or ''
            paths = [('ann_file', ds.get('ann_file') or '')]
            prefix = ds.get('data_prefix') or {}
            values = list(prefix.values()) if isinstance(prefix, dict) else [prefix]
            paths += [('data_prefix', value) for value in values]
            if not prefix and ds.get('split'):  # mmpretrain's ImageNet reads <data_root>/<split>
                paths.append(('data_prefix', ds['split']))
            for kind, path in paths:
                if path and isinstance(path, str) and '://' not in path:
                    yield loader, ds, kind, path if osp.isabs(path) else osp.join(root, path)


def missing_dataset_paths(cfg: Config, loaders: Iterable[str]) -> List[Tuple[str, str, str]]:
    """(loader, dataset type, path) for every annotation file or data folder that is missing."""
    return [(loader, ds.get('type', '?'), full)
            for loader, ds, _, full in _dataset_paths(cfg, loaders) if not osp.exists(full)]


def _json_problem(path: str, ds_type: str) -> Optional[str]:
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(4096).lstrip()
        f.seek(max(0, size - 4096))
        tail = f.read().rstrip()
    if not head or head[:1] not in (b'{', b'['):
        return 'is not JSON (it does not start with { or [)'
    if tail[-1:] not in (b'}', b']'):
        return 'is truncated (the JSON does not end with } or ]): download or extract it again'
    if size > FULL_PARSE_BYTES:
        return None
    try:
        with open(path, encoding='utf-8') as f:
            content = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        return f'is not valid JSON ({err})'
    if 'coco' in ds_type.lower():
        if not isinstance(content, dict):
            return f'is not a COCO annotation file (a JSON {type(content).__name__}, not an object)'
        keys = [k for k in ('images', 'annotations', 'categories') if k not in content]
        if keys:
            return (f'is not a COCO annotation file: it has no {keys} (it has '
                    f'{sorted(content)[:8]})')
        if not content['images']:
            return 'lists no images ("images" is empty)'
        if not content['categories']:
            return 'lists no categories ("categories" is empty)'
    return None


def _list_problem(path: str) -> Optional[str]:
    with open(path, encoding='utf-8', errors='replace') as f:
        for number, line in enumerate(f, 1):
            if number > 100:
                break
            fields = line.split()
            if not fields:
                continue
            if len(fields) > 2 or (len(fields) == 2 and not fields[1].lstrip('-').isdigit()):
                return (f'line {number} is not "<image path> <integer label>": '
                        f'{line.strip()[:80]!r}')
    return None


def _file_problem(path: str, kind: str, ds_type: str) -> Optional[str]:
    if kind == 'ann_file':
        if osp.isdir(path):
            return 'is a folder, but ann_file must be a file'
        if osp.getsize(path) == 0:
            return 'is empty (0 bytes): download or extract it again'
        if path.endswith('.json'):
            return _json_problem(path, ds_type)
        if path.endswith('.txt'):
            return _list_problem(path)
        return None
    if osp.isdir(path) and not any(True for _ in os.scandir(path)):
        return 'is an empty folder: the images were not extracted there'
    return None


def malformed_dataset_files(cfg: Config, loaders: Iterable[str]) -> List[Tuple[str, str, str]]:
    """(loader, path, problem) for every existing annotation file or data folder that is
    unusable (empty, truncated, not JSON, not COCO, bad list lines, empty image folder)."""
    problems, seen = [], set()
    for loader, ds, kind, full in _dataset_paths(cfg, loaders):
        if not osp.exists(full) or full in seen:
            continue
        seen.add(full)
        problem = _file_problem(full, kind, str(ds.get('type', '')))
        if problem:
            problems.append((loader, full, problem))
    return problems


def check_dataset_paths(cfg: Config, loaders: Iterable[str], config_path: str = '') -> None:
    """Raise ``FileNotFoundError`` naming each missing path and how to get or point to the data,
    or :class:`DatasetError` naming each unusable file and what is wrong with it."""
    loaders = list(loaders)
    missing = missing_dataset_paths(cfg, loaders)
    if not missing:
        malformed = malformed_dataset_files(cfg, loaders)
        if malformed:
            lines = [f'Dataset files for {config_path or "the config"} are unusable:']
            lines += [f'  {loader}: {path} {problem}' for loader, path, problem in malformed]
            lines.append('Replace them with the complete files (or fix the paths the config '
                         'points at, e.g. --cfg-options train_dataloader.dataset.ann_file=...).')
            raise DatasetError('\n'.join(lines))
        return
    lines = [f'Dataset files for {config_path or "the config"} are missing:']
    lines += [f'  {loader}: {path}' for loader, _, path in missing]
    for ds_type in sorted({t for _, t, _ in missing}):
        if ds_type in DATASET_HINTS:
            name, url, layout = DATASET_HINTS[ds_type]
            lines.append(f'{name}: download from {url} and lay it out as <data_root>/{layout}')
    loaders_missing = sorted({loader for loader, _, _ in missing})
    lines.append('Then place it where the config looks (paths are relative to the current '
                 'directory; a symlink works), or point the config at it:')
    lines.append('  --cfg-options ' + ' '.join(f'{loader}.dataset.data_root=/path/to/dataset/'
                                               for loader in loaders_missing))
    lines.append('To try everything without a download: python tools/misc/make_toy_data.py, then '
                 'train a configs/*_toy.py config.')
    raise FileNotFoundError('\n'.join(lines))
