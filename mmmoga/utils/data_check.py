"""Fail fast, with a useful message, when a config's dataset is not on disk."""
import os.path as osp
from typing import Iterable, List, Tuple

from mmengine.config import Config

__all__ = ['missing_dataset_paths', 'check_dataset_paths']

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


def missing_dataset_paths(cfg: Config, loaders: Iterable[str]) -> List[Tuple[str, str, str]]:
    """(loader, dataset type, path) for every annotation file or data folder that is missing."""
    missing = []
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg or 'dataset' not in loader_cfg:
            continue
        for ds in _leaf_datasets(loader_cfg['dataset']):
            root = ds.get('data_root', '') or ''
            paths = [ds.get('ann_file') or '']
            prefix = ds.get('data_prefix') or {}
            paths += list(prefix.values()) if isinstance(prefix, dict) else [prefix]
            for path in paths:
                if path and isinstance(path, str) and '://' not in path:
                    full = path if osp.isabs(path) else osp.join(root, path)
                    if not osp.exists(full):
                        missing.append((loader, ds.get('type', '?'), full))
    return missing


def check_dataset_paths(cfg: Config, loaders: Iterable[str], config_path: str = '') -> None:
    """Raise ``FileNotFoundError`` naming each missing path and how to get or point to the data."""
    missing = missing_dataset_paths(cfg, loaders)
    if not missing:
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
    lines.append('  --cfg-options ' + ' '.join(
        f'{loader}.dataset.data_root=/path/to/dataset/' for loader in loaders_missing))
    lines.append('To try everything without a download: python tools/misc/make_toy_data.py, then '
                 'train a configs/*_toy.py config.')
    raise FileNotFoundError('\n'.join(lines))
