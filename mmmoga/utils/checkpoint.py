"""Checkpoint loading on torch >= 2.6, where ``torch.load`` defaults to ``weights_only=True``.

Two cases, two policies:

* mmengine's own checkpoints (``--resume``, ``load_from``): they pickle mmengine's ``HistoryBuffer``
  and numpy arrays/dtypes in the message hub. :func:`allow_mmengine_checkpoints` adds exactly those
  classes to torch's allow-list, so they load with ``weights_only=True`` and nothing else is trusted.
* a pretrained file that the user named in ``init_cfg``: released ImageNet checkpoints may pickle
  anything (timm's saver stores ``argparse.Namespace``). :func:`load_checkpoint_file` tries the safe
  loader first and only falls back to a full unpickle for that one file, saying so in the log.
"""
import logging
import os
import os.path as osp
import pickle
import re
from collections import OrderedDict
from typing import Dict, Iterable, Optional
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MMLogger, print_log

__all__ = [
    'allow_mmengine_checkpoints', 'load_checkpoint_file', 'extract_state_dict',
    'load_state_dict_verbose'
]


def allow_mmengine_checkpoints() -> None:
    """Allow-list the classes that mmengine pickles into its training checkpoints."""
    dtype_classes = [
        getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')
    ]
    torch.serialization.add_safe_globals([
        HistoryBuffer,
        # HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, 'min'); the
        # weights-only unpickler still refuses to call anything not allow-listed, so getattr can
        # only fetch attributes here, never run code
        getattr,
        np.dtype,
        np.ndarray,
        np._core.multiarray._reconstruct,
        np._core.multiarray.scalar,
        *dtype_classes,
    ])


def _local_path(filename: str) -> str:
    """Return a local path for ``filename``, downloading http(s) URLs into torch's hub cache."""
    if not filename.startswith(('http://', 'https://')):
        if not osp.isfile(filename):
            raise FileNotFoundError(f'Checkpoint file not found: {filename!r}')
        return filename
    cache_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(cache_dir, exist_ok=True)
    path = osp.join(cache_dir, osp.basename(urlparse(filename).path))
    if not osp.isfile(path):
        print_log(f'Downloading {filename} to {path}', logger='current')
        try:
            torch.hub.download_url_to_file(filename, path, progress=False)
        except Exception as err:  # network errors come in many types
            raise RuntimeError(
                f'Could not download the checkpoint {filename} ({err}). Download it by hand '
                f'and point init_cfg.checkpoint (or --cfg-options) at the local file, or place '
                f'it at {path}.') from err
    return path


def load_checkpoint_file(filename: str,
                         map_location: str = 'cpu',
                         logger: Optional[logging.Logger] = None) -> dict:
    """Load a checkpoint the user named explicitly (local path or http(s) URL).

    Tensors-only files load with ``weights_only=True``. A file that pickles other objects is loaded
    in full only because the user pointed at it, and a warning names the file.
    """
    logger = logger or MMLogger.get_current_instance()
    path = _local_path(filename)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.findall(r'GLOBAL ([\w.]+)', str(err))
        what = ', '.join(sorted(set(found))) or 'objects other than tensors'
        logger.warning(
            f'Checkpoint {filename} pickles {what}. Loading it with weights_only=False because it '
            f'was named explicitly as the pretrained file; only do this with files you trust.')
        return torch.load(path, map_location=map_location, weights_only=False)


def extract_state_dict(checkpoint: dict,
                       prefix: Optional[str] = None,
                       use_ema: bool = False) -> Dict[str, torch.Tensor]:
    """Unwrap the state dict of a backbone from the layouts the official repositories use.

    Args:
        checkpoint: what ``torch.load`` returned.
        prefix: keep only keys starting with this prefix and strip it (e.g. ``'backbone.'`` for a
            full detector or mmpretrain checkpoint). ``None`` strips ``backbone.`` automatically
            when the checkpoint has such keys.
        use_ema: take ``state_dict_ema`` when the file has one (timm/MogaNet releases carry both;
            the official downstream runs used the plain ``state_dict``).
    """
    wrappers = ('state_dict_ema', 'state_dict', 'model') if use_ema else ('state_dict', 'model',
                                                                          'state_dict_ema')
    state_dict = checkpoint
    for key in wrappers:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            state_dict = checkpoint[key]
            break
    state_dict = OrderedDict(
        (re.sub(r'^module\.', '', k), v) for k, v in state_dict.items()
        if isinstance(v, torch.Tensor))
    if prefix is None and any(k.startswith('backbone.') for k in state_dict):
        prefix = 'backbone.'
    if prefix:
        state_dict = OrderedDict(
            (k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
        if not state_dict:
            raise KeyError(f'No key of the checkpoint starts with {prefix!r}')
    return state_dict


def load_state_dict_verbose(module: torch.nn.Module,
                            state_dict: Dict[str, torch.Tensor],
                            source: str,
                            ignore_missing: Iterable[str] = (),
                            logger: Optional[logging.Logger] = None) -> None:
    """``load_state_dict(strict=False)`` that reports missing and unexpected keys by name.

    ``ignore_missing`` lists key prefixes that are expected to be fresh (e.g. HorNet's output norms,
    which no ImageNet checkpoint holds); they are reported at INFO level, everything else at WARNING.
    """
    logger = logger or MMLogger.get_current_instance()
    result = module.load_state_dict(state_dict, strict=False)
    ignore = tuple(ignore_missing)
    expected_missing = [k for k in result.missing_keys if ignore and k.startswith(ignore)]
    missing = [k for k in result.missing_keys if k not in expected_missing]
    loaded = len(state_dict) - len(result.unexpected_keys)
    logger.info(f'Loaded {loaded} tensors into {type(module).__name__} from {source}')
    if expected_missing:
        logger.info(f'Freshly initialised (not in the checkpoint, as expected): {expected_missing}')
    if missing:
        logger.warning(f'Missing keys in {source}: {missing}')
    if result.unexpected_keys:
        logger.warning(f'Unexpected keys in {source}: {result.unexpected_keys}')
