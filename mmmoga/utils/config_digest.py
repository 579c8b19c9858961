"""Digests of resolved configs: proof that refactoring the config files changed no setting.

A config is resolved (every ``_base_`` merged, ``mmdet::``-style paths read from the installed
libraries), turned into canonical JSON (keys sorted, tuples kept apart from lists) and hashed. The
suite compares each config's digest with ``tests/data/resolved_config_digests.json``;
``tools/misc/config_digests.py --update`` rewrites that file after an intended change.
"""
import hashlib
import json
import os.path as osp
from typing import Any, Dict

from mmengine.config import Config

# Top-level helper variables that only restate facts the model already holds: the backbone
# variant files (configs/_base_/backbones/) define ``variant``, which the configs read.
HELPER_KEYS = ('variant', )

DIGEST_FILE = osp.join('tests', 'data', 'resolved_config_digests.json')


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return {'__tuple__': [_canonical(item) for item in value]}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return {'__repr__': repr(value)}


def resolved_config_json(cfg: Config) -> str:
    """The resolved config as canonical JSON, without the :data:`HELPER_KEYS`."""
    settings = {key: item for key, item in cfg.to_dict().items() if key not in HELPER_KEYS}
    return json.dumps(_canonical(settings), sort_keys=True, indent=1)


def resolved_config_digest(cfg: Config) -> str:
    """sha256 of :func:`resolved_config_json`."""
    return hashlib.sha256(resolved_config_json(cfg).encode()).hexdigest()


def read_digests(root: str) -> Dict[str, str]:
    """The recorded digests: config file name -> sha256."""
    with open(osp.join(root, DIGEST_FILE), encoding='utf-8') as f:
        return json.load(f)
