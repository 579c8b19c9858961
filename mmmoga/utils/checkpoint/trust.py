"""What a weights-only load may unpickle (allow-listed for one load at a time), and the
explicit per-file opt-in to a full unpickle."""
import argparse
import os.path as osp
import pickle
import urllib.request
from contextlib import contextmanager
from typing import Callable, List, Set, Union
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MMLogger

# ------------------------------------------------------------------------------------------------
# allow-lists (used only inside `torch.serialization.safe_globals`, one load at a time)

#: the HistoryBuffer methods mmengine pickles as ``getattr(HistoryBuffer, name)``
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while a checkpoint is unpickled: returns only the
    statistics methods of mmengine's HistoryBuffer, the one use of getattr in its checkpoints."""
    if (obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS
            and callable(HistoryBuffer.__dict__.get(name))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'GLOBAL builtins.getattr is allowed only as getattr(HistoryBuffer, name) for name in '
        f'{list(HISTORY_BUFFER_STATISTICS)}; refused: getattr({_short_repr(obj)}, '
        f'{_short_repr(name)}) <-')


def _short_repr(obj, limit: int = 60) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + '...'


def checkpoint_safe_globals() -> List[Union[Callable, tuple]]:
    """The classes (and the restricted ``getattr``) that official and mmengine checkpoints hold.

    Every entry only builds data: HistoryBuffer (lists of logged values), numpy arrays, dtypes and
    scalars (no object dtype class), ``argparse.Namespace``. The ``numpy.core`` aliases serve files
    written with numpy < 2.
    """
    from numpy._core import multiarray
    dtype_classes = [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if name.endswith('DType') and name != 'ObjectDType'
    ]
    return [
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
        *dtype_classes,
        (multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy._core.multiarray.scalar'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
        argparse.Namespace,
    ]


@contextmanager
def scoped_allow_list():
    """The allow-list of :func:`checkpoint_safe_globals` for ``weights_only`` loads inside the
    ``with`` block only (never process-wide)."""
    with torch.serialization.safe_globals(checkpoint_safe_globals()):
        yield


# ------------------------------------------------------------------------------------------------
# explicit opt-in for a full unpickle, per file

_TRUSTED: Set[str] = set()


def _trust_key(filename: str) -> str:
    if '://' in filename and not filename.startswith('file://'):
        return filename
    if filename.startswith('file://'):
        filename = urllib.request.url2pathname(urlparse(filename).path)
    return osp.realpath(osp.expanduser(filename))


def is_trusted(*names: str) -> bool:
    """Whether :func:`trust_checkpoint` was called for any of ``names`` (a path or URL, in any
    spelling of the same file)."""
    return any(_trust_key(name) in _TRUSTED for name in names)


def trust_checkpoint(filename: str) -> None:
    """Allow a full unpickle (``weights_only=False``) of this one file (path or URL) for the rest
    of the process; what the command lines' ``--unsafe-unpickle`` calls."""
    _TRUSTED.add(_trust_key(filename))
    MMLogger.get_current_instance().warning(
        f'--unsafe-unpickle: {filename} will be loaded with a full unpickle (weights_only=False), '
        f'which runs any code the file contains. Only do this with files you trust.')
