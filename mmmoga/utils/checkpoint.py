"""Checkpoint loading that never runs code from a file, and downloads of the official releases.

Trust policy
------------
Every checkpoint is loaded with ``torch.load(..., weights_only=True)``. While that one load runs,
and only then, torch's allow-list is widened (``torch.serialization.safe_globals``) by the few
harmless classes the official files contain (:func:`checkpoint_safe_globals`):

* mmengine's training checkpoints (``--resume``, ``load_from``, ``tools/test.py``, the task
  libraries' ``init_detector`` / ``init_model``): mmengine's ``HistoryBuffer``, numpy arrays,
  dtypes and scalars (not object dtypes), and ``builtins.getattr`` **mapped to a restricted
  function** that only returns HistoryBuffer's statistics methods (HistoryBuffer pickles them as
  ``getattr(HistoryBuffer, 'min')``); the real ``getattr`` is never allow-listed;
* the official ImageNet releases (timm's and ConvNeXt's savers): ``argparse.Namespace`` (the
  training arguments under ``args``).

``import mmmoga`` registers :func:`load_checkpoint_file` as mmengine's ``CheckpointLoader`` for
local paths and http(s) URLs (and runs mmengine's other schemes inside the same scoped
allow-list), so every mmengine load takes this route. Nothing process-wide widens what
``torch.load`` accepts.

Anything else in a file (a class or function a weights-only load refuses) raises
:class:`UntrustedCheckpointError`, naming the classes, the file and the opt-in below.

Opt-in for one file (a full unpickle, which can run any code the file contains; logged as a
WARNING):

* backbones: ``init_cfg=dict(type='Pretrained', checkpoint=..., unsafe_unpickle=True)``;
* ``tools/train.py`` / ``tools/test.py`` / ``tools/image_demo.py`` / ``tools/model_converters/*``:
  ``--unsafe-unpickle``, which applies only to the checkpoint named on that command line (the
  ``--resume`` file or ``load_from`` of train.py, the checkpoint of test.py and image_demo.py, the
  source file of a converter);
* in Python: :func:`trust_checkpoint` (``path or URL``), or ``unsafe_unpickle=True`` of
  :func:`load_checkpoint_file`.

Downloads
---------
URLs are downloaded once into ``<torch hub dir>/checkpoints`` (``$TORCH_HOME``), through a
temporary file that is renamed only when complete, under a file name derived from the URL form
(:func:`cache_file_name`): GitHub releases and other plain URLs keep their file name; Tsinghua
Cloud (Seafile) share links ``.../f/<id>/?dl=1`` are named from a table of the official HorNet
files (``hornet_small_gf_in1k.pth``), else ``tsinghua_<id>.pth``; Hugging Face
``.../<org>/<repo>/resolve/<rev>/<file>`` becomes ``<repo>_<file>``; ``file://`` URLs are local
paths. A file name carrying a hash in torch hub's convention, ``name-<sha256 prefix>.pth``, is
checked after download; otherwise the download's sha256 is logged. Conv2Former's weights exist only
on Baidu Netdisk: configs point at ``pretrained/conv2former_*.pth`` (:data:`BAIDU_ONLY_FILES`),
and a missing file gives an error with the link, the extraction code and where to save it.

Weights that hold no code
-------------------------
A ``.safetensors`` file (by its name, or by its content under any name) is read with
``safetensors`` and never unpickled; one that is not a valid safetensors file (a pickle renamed, a
truncated copy) raises :class:`CorruptCheckpointError`. ``tools/model_converters/to_safetensors.py``
(:func:`mmmoga.converters.release_to_safetensors`) turns an official release into one.

Hashes
------
A download is checked against a sha256 when one is known: passed in (``sha256=`` of
:func:`load_checkpoint_file`, ``init_cfg=dict(type='Pretrained', checkpoint=..., sha256=...)``,
``create_backbone(..., sha256=...)``) or given for that URL by a metafile
(:func:`mmmoga.model_zoo.weight_hashes`). A download that differs is refused with
:class:`ChecksumError` and nothing is left in the cache; a cached copy that differs is removed and
downloaded again. A local file with a given sha256 is checked too (and kept).

Faults
------
A truncated or corrupt file raises :class:`CorruptCheckpointError`, which names the file and, for a
training checkpoint, the newest complete checkpoint beside it to resume from.
"""
import argparse
import hashlib
import logging
import os
import os.path as osp
import pickle
import pickletools
import re
import tempfile
import urllib.request
import zipfile
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Dict, Iterable, List, Optional, Set, Union
from urllib.parse import urlparse

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.runner.checkpoint import CheckpointLoader
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors_file

__all__ = [
    'CheckpointError', 'UntrustedCheckpointError', 'CorruptCheckpointError',
    'CheckpointNotFoundError', 'ChecksumError', 'checkpoint_safe_globals', 'trust_checkpoint',
    'cache_file_name', 'file_sha256', 'known_sha256', 'is_safetensors_file', 'download_checkpoint',
    'resolve_checkpoint', 'load_checkpoint_file', 'register_mmengine_loaders', 'extract_state_dict',
    'load_state_dict_verbose', 'TSINGHUA_FILES', 'BAIDU_ONLY_FILES'
]

OPT_IN_HELP = (
    'If you trust this file, opt in to a full unpickle of this one file (it can run any code the '
    'file contains): init_cfg=dict(type=\'Pretrained\', checkpoint=..., unsafe_unpickle=True) '
    'for a backbone, or --unsafe-unpickle on tools/train.py, tools/test.py, tools/image_demo.py '
    'or a converter in tools/model_converters (it applies only to the checkpoint named on that '
    'command line).')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message names the file and the fix."""


class UntrustedCheckpointError(CheckpointError, pickle.UnpicklingError):
    """The file pickles classes or functions outside the weights-only allow-list."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, corrupt, or not a checkpoint at all."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


class ChecksumError(CheckpointError):
    """The file's sha256 is not the one expected for it."""


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
def _scoped_allow_list():
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


def trust_checkpoint(filename: str) -> None:
    """Allow a full unpickle (``weights_only=False``) of this one file (path or URL) for the rest
    of the process; what the command lines' ``--unsafe-unpickle`` calls."""
    _TRUSTED.add(_trust_key(filename))
    MMLogger.get_current_instance().warning(
        f'--unsafe-unpickle: {filename} will be loaded with a full unpickle (weights_only=False), '
        f'which runs any code the file contains. Only do this with files you trust.')


# ------------------------------------------------------------------------------------------------
# URL forms of the official releases

#: Tsinghua Cloud share ids of the official HorNet files -> cache file name
TSINGHUA_FILES = {
    # ImageNet classifiers (HorNet README)
    'bac9690c72944d19aca1': 'hornet_tiny_7x7_in1k.pth',
    '460e759c82324ea6bfa3': 'hornet_tiny_gf_in1k.pth',
    '8ef64277da0e469ea857': 'hornet_small_7x7_in1k.pth',
    '959603ca287d4c09ad49': 'hornet_small_gf_in1k.pth',
    '13a748487711492e9704': 'hornet_base_7x7_in1k.pth',
    'c212d1d8a3914b47a5c1': 'hornet_base_gf_in1k.pth',
    'c2fc23caae084a3aa73d': 'hornet_large_7x7_in22k.pth',
    '8600206ebdfa485f98d0': 'hornet_large_gf_in22k.pth',
    'eec48d5eca5a48d98fd2': 'hornet_large_gf_in22k_384.pth',
    # "Pretrained Model" links of the detection/segmentation READMEs
    '1ca970586c6043709a3f': 'hornet_tiny_7x7_in1k_downstream.pth',
    '511faad0bde94dfcaa54': 'hornet_tiny_gf_in1k_downstream.pth',
    '46422799db2941f7b684': 'hornet_small_7x7_in1k_downstream.pth',
    '8405c984bf084d2ba85a': 'hornet_small_gf_in1k_downstream.pth',
    '5c86cb3d655d4c17a959': 'hornet_base_7x7_in1k_downstream.pth',
    '6c84935e63b547f383fb': 'hornet_base_gf_in1k_downstream.pth',
    'a76f7ce114ad4e9c8ffb': 'hornet_large_7x7_in22k_downstream.pth',
    '9253bd0d50c84ab1b71e': 'hornet_large_gf_in22k_downstream.pth',
    # COCO Cascade Mask R-CNN 3x
    '19daa3854a6b4c75bf23': 'cascade_mask_rcnn_hornet_tiny_7x7_3x_coco.pth',
    '1ca353fb6ac44b54a2d8': 'cascade_mask_rcnn_hornet_tiny_gf_3x_coco.pth',
    '6af0439735dc473f8646': 'cascade_mask_rcnn_hornet_small_7x7_3x_coco.pth',
    'fd9a3127b18f404d8e95': 'cascade_mask_rcnn_hornet_small_gf_3x_coco.pth',
    '324de62466a848129e19': 'cascade_mask_rcnn_hornet_base_7x7_3x_coco.pth',
    '97d8587c8a0248fcac19': 'cascade_mask_rcnn_hornet_base_gf_3x_coco.pth',
    '975af666e64840588e3e': 'cascade_mask_rcnn_hornet_large_7x7_3x_coco.pth',
    '597f655fe9b84d50bffb': 'cascade_mask_rcnn_hornet_large_gf_3x_coco.pth',
    # ADE20K UperNet 160K
    '684334b0a7ea436b9a97': 'upernet_hornet_tiny_7x7_160k_ade20k.pth',
    '34725e1401194786bb76': 'upernet_hornet_tiny_gf_160k_ade20k.pth',
    '0e488e21a88d414da90c': 'upernet_hornet_small_7x7_160k_ade20k.pth',
    'd37290faa8a34bc091c3': 'upernet_hornet_small_gf_160k_ade20k.pth',
    '98288e9023c2425a880c': 'upernet_hornet_base_7x7_160k_ade20k.pth',
    'e50ecead21e4408187b7': 'upernet_hornet_base_gf_160k_ade20k.pth',
    'd7a782e07a354f59bf62': 'upernet_hornet_large_7x7_160k_ade20k.pth',
    '3dbb38bae1694653a666': 'upernet_hornet_large_gf_160k_ade20k.pth',
}

#: Conv2Former ImageNet weights, published only on Baidu Netdisk: the local file name the configs
#: use (under ``pretrained/``) -> (model, share link, extraction code)
BAIDU_ONLY_FILES = {
    'conv2former_n_1k.pth':
    ('Conv2Former-N (ImageNet-1K)', 'https://pan.baidu.com/s/1sgO-UhF27UQrGtfKJzck3A', '6ku9'),
    'conv2former_t_1k.pth':
    ('Conv2Former-T (ImageNet-1K)', 'https://pan.baidu.com/s/1Rfsi5p5usr3UE46jigtlcg', 'gwq4'),
    'conv2former_s_1k.pth':
    ('Conv2Former-S (ImageNet-1K)', 'https://pan.baidu.com/s/16Lu1LcQkOoSQXnZVGxGPxg', '6z6m'),
    'conv2former_b_1k.pth':
    ('Conv2Former-B (ImageNet-1K)', 'https://pan.baidu.com/s/1q5V1J3jzAoKQis-hx6rTVg', 'bdgj'),
    'conv2former_s_22k.pth': ('Conv2Former-S (ImageNet-22K, fine-tuned on 1K)',
                              'https://pan.baidu.com/s/1uMBF5xSvdWa5TCjQ_jlK4g', '1iij'),
    'conv2former_b_22k.pth': ('Conv2Former-B (ImageNet-22K, fine-tuned on 1K)',
                              'https://pan.baidu.com/s/1rkt3NhYQhPPOD5kj67uZCw', 'gbj9'),
    'conv2former_l_22k.pth': ('Conv2Former-L (ImageNet-22K, fine-tuned on 1K at 224)',
                              'https://pan.baidu.com/s/1_YYQ_rY9QRkq-m2lv23GPg', '44os'),
    'conv2former_l_22k_384.pth': ('Conv2Former-L (ImageNet-22K, fine-tuned on 1K at 384)',
                                  'https://pan.baidu.com/s/1vyBaA4UGUX_qlS-ugxpTSQ', 'gu0m'),
}

_SEAFILE_SHARE = re.compile(r'^/f/([0-9a-fA-F]+)/?$')
_HF_FILE = re.compile(r'^/([^/]+)/([^/]+)/(?:resolve|blob)/([^/]+)/(.+)$')
_HASH_IN_NAME = re.compile(r'-([0-9a-f]{8,64})(?:\.[A-Za-z0-9]+)+$')


def _safe_name(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9._+-]', '_', name)


def cache_file_name(url: str) -> str:
    """The file name a checkpoint URL is cached under (never empty).

    * Seafile share links (Tsinghua Cloud) ``https://cloud.tsinghua.edu.cn/f/<id>/?dl=1``: the name
      in :data:`TSINGHUA_FILES`, else ``tsinghua_<id>.pth`` (``seafile_<id>.pth`` on other hosts);
    * Hugging Face ``https://huggingface.co/<org>/<repo>/resolve/<rev>/<file>[?download=true]``:
      ``<repo>_<file>`` (``<repo>_<rev>_<file>`` for a revision other than ``main``), since hub
      repositories share generic names such as ``pytorch_model.bin``;
    * anything else, GitHub releases included: the last component of the URL path (query
      dropped); ``download_<sha256 of the URL>.pth`` when the path has none.
    """
    parsed = urlparse(url)
    path = parsed.path
    share = _SEAFILE_SHARE.match(path)
    if share:
        share_id = share.group(1)
        if share_id in TSINGHUA_FILES:
            return TSINGHUA_FILES[share_id]
        host = 'tsinghua' if parsed.netloc.endswith('tsinghua.edu.cn') else 'seafile'
        return f'{host}_{share_id}.pth'
    hf_file = _HF_FILE.match(path)
    if hf_file:
        _, repo, revision, file_path = hf_file.groups()
        prefix = repo if revision == 'main' else f'{repo}_{revision}'
        return _safe_name(f'{prefix}_{osp.basename(file_path)}')
    name = osp.basename(path.rstrip('/')) if path.endswith('/') else osp.basename(path)
    if name and path.endswith('/'):  # a folder-like URL: not a file name
        name = ''
    if not name:
        return f'download_{hashlib.sha256(url.encode()).hexdigest()[:16]}.pth'
    return _safe_name(name)


def _download_url(url: str) -> str:
    """The URL to fetch: Seafile share links need ``dl=1``; Hugging Face ``blob`` pages are the
    HTML view of the file, ``resolve`` is the file."""
    parsed = urlparse(url)
    if _SEAFILE_SHARE.match(parsed.path) and 'dl=1' not in parsed.query:
        return parsed._replace(query='dl=1').geturl()
    hf_file = _HF_FILE.match(parsed.path)
    if hf_file and '/blob/' in parsed.path:
        return parsed._replace(path=parsed.path.replace('/blob/', '/resolve/', 1)).geturl()
    return url


def file_sha256(path: str) -> str:
    """The sha256 of a file, as hex digits."""
    hasher = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            hasher.update(chunk)
    return hasher.hexdigest()


def known_sha256(url: str) -> Optional[str]:
    """The sha256 a metafile gives for ``url`` (:func:`mmmoga.model_zoo.weight_hashes`), or
    None (also where no metafiles are found)."""
    from mmmoga import model_zoo
    try:
        return model_zoo.weight_hashes().get(url)
    except (model_zoo.MetafileError, OSError):
        return None


def _checksum_message(what: str, digest: str, expected: str) -> str:
    return (f'{what} has sha256 {digest}, but {expected} is expected for it: the file is '
            f'damaged, or not the release the hash was taken of (replaced on the server, or an '
            f'error page).')


def download_checkpoint(url: str,
                        cache_dir: Optional[str] = None,
                        timeout: float = 60,
                        sha256: Optional[str] = None) -> str:
    """Download ``url`` into ``cache_dir`` (default ``<torch hub dir>/checkpoints``) once and
    return the local path.

    The bytes go to a temporary file in the same folder, which is renamed only after the whole
    body arrived (a ``Content-Length`` mismatch is an error), so an interrupted download never
    leaves a truncated cache entry. The expected sha256 is ``sha256``, else the one a metafile
    gives for ``url`` (:func:`known_sha256`): a download that differs raises
    :class:`ChecksumError` and is not cached; a cached copy that differs is removed and
    downloaded again. A hash in the file name (``name-<sha256 prefix>.pth``) is checked too;
    otherwise the sha256 is logged. An HTML page instead of a checkpoint is an error.
    """
    logger = MMLogger.get_current_instance()
    expected = (sha256 or known_sha256(url) or '').lower() or None
    cache_dir = cache_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(cache_dir, exist_ok=True)
    name = cache_file_name(url)
    path = osp.join(cache_dir, name)
    if osp.isfile(path):
        if expected is None:
            return path
        digest = file_sha256(path)
        if digest == expected:
            return path
        logger.warning(f'{_checksum_message(f"The cached {path}", digest, expected)} Removing it '
                       f'and downloading {url} again.')
        os.remove(path)
    source = _download_url(url)
    logger.info(f'Downloading {url} to {path}')
    fd, tmp_path = tempfile.mkstemp(prefix=f'.{name}.', suffix='.partial', dir=cache_dir)
    hasher, size, match = hashlib.sha256(), 0, None
    try:
        with os.fdopen(fd, 'wb') as out:
            request = urllib.request.Request(source, headers={'User-Agent': 'mmmoga'})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                expected_size = response.headers.get('Content-Length')
                while True:
                    chunk = response.read(1 << 20)
                    if not chunk:
                        break
                    if size == 0 and chunk.lstrip()[:15].lower().startswith(
                        (b'<!doctype html', b'<html')):
                        raise CheckpointError(
                            f'{url} returned an HTML page, not a checkpoint (a share page or a '
                            f'login wall). Open it in a browser, download the file by hand and '
                            f'point the config at it, or place it at {path}.')
                    out.write(chunk)
                    hasher.update(chunk)
                    size += len(chunk)
            if expected_size is not None and int(expected_size) != size:
                raise CheckpointError(
                    f'The download of {url} stopped after {size} of {expected_size} bytes; '
                    f'nothing was cached. Run again to retry, or download it by hand to {path}.')
        digest = hasher.hexdigest()
        if expected is not None and digest != expected:
            raise ChecksumError(
                f'{_checksum_message(f"The download of {url}", digest, expected)} Refused; '
                f'nothing was cached. If the file was re-released on purpose, update the hash '
                f'(the metafile\'s `Weights SHA256`, or the sha256 you passed).')
        match = _HASH_IN_NAME.search(name)
        if match and not digest.startswith(match.group(1)):
            raise ChecksumError(
                f'The download of {url} has sha256 {digest}, but its file name says '
                f'{match.group(1)}...: the file is damaged or was replaced; nothing was cached.')
        os.replace(tmp_path, path)
    except CheckpointError:
        raise
    except Exception as err:  # network errors come in many types
        raise CheckpointError(
            f'Could not download the checkpoint {url} ({type(err).__name__}: {err}). Download '
            f'it by hand and point the config at the local file (e.g. --cfg-options '
            f'model.backbone.init_cfg.checkpoint=/path/to/file), or place it at {path}.') from err
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
    checked = ' (as expected)' if expected else (' (matches the hash in its name)' if match else '')
    logger.info(f'Downloaded {size} bytes to {path}; sha256 {digest}{checked}')
    return path


def _missing_file_message(filename: str) -> str:
    name = osp.basename(filename)
    if name in BAIDU_ONLY_FILES:
        model, link, code = BAIDU_ONLY_FILES[name]
        return (f'Checkpoint file not found: {filename}. The {model} weights are published only '
                f'on Baidu Netdisk: {link} (extraction code {code}). Download the file and save '
                f'it as {osp.abspath(filename)} (mkdir -p {osp.dirname(osp.abspath(filename))}), '
                f'or point the config at your copy: --cfg-options '
                f'model.backbone.init_cfg.checkpoint=/path/to/{name}')
    return (f'Checkpoint file not found: {filename} (relative paths start at '
            f'{os.getcwd()}). Check the path; for a backbone, point the config at the file with '
            f'--cfg-options model.backbone.init_cfg.checkpoint=/path/to/file.pth')


def resolve_checkpoint(filename: str,
                       cache_dir: Optional[str] = None,
                       sha256: Optional[str] = None) -> str:
    """Return a local path for a checkpoint path, ``file://`` URL or http(s) URL (downloaded once;
    in a distributed run local rank 0 downloads while the others wait). With ``sha256``, a local
    file must have it (:class:`ChecksumError` otherwise); downloads are checked as
    :func:`download_checkpoint` says."""
    if filename.startswith('file://'):
        filename = urllib.request.url2pathname(urlparse(filename).path)
    if not filename.startswith(('http://', 'https://')):
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise CheckpointNotFoundError(_missing_file_message(filename))
        if sha256 and file_sha256(filename) != sha256.lower():
            raise ChecksumError(
                _checksum_message(f'Checkpoint {filename}', file_sha256(filename), sha256.lower()))
        return filename
    rank, world_size = get_dist_info()
    local_rank = int(os.environ.get('LOCAL_RANK', rank))
    if world_size > 1 and torch_dist.is_available() and torch_dist.is_initialized():
        if local_rank == 0:
            path = download_checkpoint(filename, cache_dir, sha256=sha256)
        torch_dist.barrier()
        if local_rank != 0:
            path = download_checkpoint(filename, cache_dir, sha256=sha256)
        return path
    return download_checkpoint(filename, cache_dir, sha256=sha256)


# ------------------------------------------------------------------------------------------------
# loading


def _pickled_globals(path: str) -> List[str]:
    """Every ``module.name`` the file's pickle refers to, read statically (nothing is run)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            records = [n for n in archive.namelist() if n.endswith('/data.pkl') or n == 'data.pkl']
            if not records:
                raise CorruptCheckpointError(f'{path} is a zip archive without data.pkl')
            data = archive.read(records[0])
    else:
        with open(path, 'rb') as f:
            data = f.read()
    found, strings = [], []
    offset = 0
    while offset < len(data):  # legacy files hold several pickles one after another
        end = offset
        for op, arg, pos in pickletools.genops(data[offset:]):
            end = offset + pos + 1
            if op.name in ('SHORT_BINUNICODE', 'BINUNICODE', 'UNICODE'):
                strings.append(arg)
            elif op.name == 'GLOBAL':
                found.append(arg.replace(' ', '.'))
            elif op.name == 'STACK_GLOBAL' and len(strings) >= 2:
                found.append(f'{strings[-2]}.{strings[-1]}')
            if op.name == 'STOP':
                break
        if end <= offset:
            break
        offset = end
        if zipfile.is_zipfile(path) or len(data) - offset < 2:
            break
        if data[offset] != 0x80:  # the tensor bytes of a legacy file follow the pickles
            break
    mapped = []
    for name in found:
        module, _, attr = name.rpartition('.')
        module = {'__builtin__': 'builtins', 'copy_reg': 'copyreg'}.get(module, module)
        mapped.append(f'{module}.{attr}')
    return list(dict.fromkeys(mapped))


def _refused_globals(path: str) -> List[str]:
    from torch import _weights_only_unpickler as wou
    with _scoped_allow_list():
        allowed = set(wou._get_allowed_globals()) | set(wou._get_user_allowed_globals())
    return [name for name in _pickled_globals(path) if name not in allowed]


def _complete_checkpoints_beside(path: str) -> List[str]:
    """The complete ``epoch_N.pth`` / ``iter_N.pth`` of a work dir, newest (largest N) first."""
    folder = osp.dirname(osp.abspath(path))
    found = []
    for name in os.listdir(folder):
        match = re.fullmatch(r'(epoch|iter)_(\d+)\.pth', name)
        full = osp.join(folder, name)
        if match and full != osp.abspath(path) and zipfile.is_zipfile(full):
            found.append((int(match.group(2)), full))
    return [full for _, full in sorted(found, reverse=True)]


def _corrupt_error(filename: str, path: str, err: BaseException) -> CorruptCheckpointError:
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(64).lstrip().lower()
    if head.startswith((b'<!doctype html', b'<html', b'<?xml', b'<head')):
        return CorruptCheckpointError(
            f'Checkpoint {filename} is an HTML page, not a checkpoint (a download that got a web '
            f'page: a share page, login wall or error page). Download the file itself (for '
            f'Tsinghua Cloud, the link ending in ?dl=1) and point the config at it.')
    said = re.split(r'(?<=\.) ', str(err).strip().splitlines()[0] if str(err).strip() else '')[0]
    lines = [
        f'Checkpoint {filename} is truncated or corrupt ({size} bytes; torch.load says: '
        f'{type(err).__name__}: {said.rstrip(".")}).'
    ]
    folder = osp.dirname(osp.abspath(path))
    last = osp.join(folder, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            pointed = f.read().strip()
        if pointed and osp.abspath(pointed) == osp.abspath(path):
            lines.append(f'{last} points at this file: the run was probably killed while it was '
                         f'being written.')
    complete = _complete_checkpoints_beside(path)
    if complete:
        lines.append(f'The newest complete checkpoint beside it is {complete[0]}: resume with '
                     f'`tools/train.py CONFIG --resume {complete[0]}` (or load that one). Nothing '
                     f'was deleted; remove the damaged file once you no longer need it.')
    elif filename.startswith(('http://', 'https://')):
        lines.append(f'Delete {path} and run again to download it afresh.')
    else:
        lines.append('Copy or download the file again.')
    return CorruptCheckpointError(' '.join(lines))


def is_safetensors_file(path: str) -> bool:
    """Whether the file starts as a safetensors file does: an 8-byte little-endian header length
    that fits the file, then the JSON header's ``{``."""
    with open(path, 'rb') as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b'{':
        return False
    return 0 < int.from_bytes(head[:8], 'little') <= osp.getsize(path) - 8


def _load_safetensors(filename: str, path: str, map_location) -> Dict[str, torch.Tensor]:
    """Read a safetensors file (never unpickled); a pickle or a damaged file is an error."""
    device = str(map_location) if isinstance(map_location, (str, torch.device)) else 'cpu'
    try:
        return load_safetensors_file(path, device=device)
    except (SafetensorError, OSError, ValueError) as err:
        with open(path, 'rb') as f:
            head = f.read(2)
        if zipfile.is_zipfile(path) or head[:1] == b'\x80':
            kind = 'a torch.save zip archive' if zipfile.is_zipfile(path) else 'a raw pickle'
            raise CorruptCheckpointError(
                f'{filename} is named .safetensors but is {kind}, not a safetensors file; '
                f'mmmoga never unpickles a .safetensors file. Convert the original release with '
                f'`python tools/model_converters/to_safetensors.py SRC DST.safetensors` (it reads '
                f'pickles with weights_only=True), or load the pickle under a .pth name.') from None
        raise CorruptCheckpointError(
            f'{filename} is not a valid safetensors file ({osp.getsize(path)} bytes; safetensors '
            f'says: {err}): it is truncated or damaged. Copy, download or convert it '
            f'again.') from None


def load_checkpoint_file(filename: str,
                         map_location='cpu',
                         logger: Optional[logging.Logger] = None,
                         unsafe_unpickle: bool = False,
                         sha256: Optional[str] = None) -> dict:
    """Load a checkpoint (local path, ``file://`` or http(s) URL) without running code from it.

    A ``.safetensors`` file (by name or content) is read with safetensors, never unpickled, and
    returned as a flat dict of tensors; anything else goes through ``torch.load`` with
    ``weights_only=True`` and the scoped allow-list.

    Args:
        filename: the checkpoint.
        map_location: as for :func:`torch.load`.
        logger: where the warnings go (default: mmengine's current logger).
        unsafe_unpickle: load this file with ``weights_only=False`` (a full unpickle, which runs
            any code the file contains); logged as a WARNING. Also implied for files passed to
            :func:`trust_checkpoint`. Never applies to safetensors files.
        sha256: the file's expected sha256 (see :func:`resolve_checkpoint`); for URLs the
            metafiles' hash is used when this is not given.

    Raises:
        UntrustedCheckpointError: the file pickles something beyond
            :func:`checkpoint_safe_globals`; the message names it.
        CorruptCheckpointError: the file is truncated or corrupt, or a ``.safetensors`` file
            is not one.
        CheckpointNotFoundError: the file does not exist.
        ChecksumError: the file's sha256 is not the expected one.
    """
    logger = logger or MMLogger.get_current_instance()
    path = resolve_checkpoint(filename, sha256=sha256)
    if path.endswith('.safetensors') or filename.endswith('.safetensors') or (
            osp.getsize(path) > 0 and is_safetensors_file(path)):
        return _load_safetensors(filename, path, map_location)
    if unsafe_unpickle or _trust_key(filename) in _TRUSTED or _trust_key(path) in _TRUSTED:
        logger.warning(f'Loading {filename} with a full unpickle (weights_only=False) as opted '
                       f'in (unsafe_unpickle); this runs any code the file contains.')
        return torch.load(path, map_location=map_location, weights_only=False)
    if osp.getsize(path) == 0:
        raise CorruptCheckpointError(f'Checkpoint {filename} is an empty file (0 bytes). Copy or '
                                     f'download it again.')
    try:
        with _scoped_allow_list():
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        try:
            refused = _refused_globals(path)
        except Exception as scan_err:  # the pickle itself is damaged
            raise _corrupt_error(filename, path, err) from scan_err
        getattr_use = re.search(r'refused: (getattr\(.*?\)) <-', text, re.S)
        if refused or getattr_use or 'GLOBAL' in text or 'Weights only load failed' in text:
            what = refused + ([getattr_use.group(1)] if getattr_use else [])
            reason = re.search(r'WeightsUnpickler error: ([^\n]+)', text)
            reason = reason.group(1) if reason else text
            what = ', '.join(
                what or re.findall(r'GLOBAL ([\w.]+)', text)
                or [f'objects it may not build ({reason})'])
            raise UntrustedCheckpointError(
                f'Refusing to unpickle {filename}: it pickles {what}, which a weights-only load '
                f'does not allow (such entries can run code when unpickled). mmmoga allows only '
                f'tensors, containers, numpy arrays, mmengine\'s HistoryBuffer and '
                f'argparse.Namespace. {OPT_IN_HELP}') from None
        raise _corrupt_error(filename, path, err) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as err:
        if 'on a CUDA device' in str(err) or 'map_location' in str(err):
            raise
        raise _corrupt_error(filename, path, err) from None


def register_mmengine_loaders() -> None:
    """Route mmengine's ``CheckpointLoader`` through :func:`load_checkpoint_file`.

    Local paths and http(s) URLs (``--resume``, ``load_from``, ``init_detector`` / ``init_model``,
    ``Pretrained`` init of any module) load through mmmoga's loader; mmengine's other schemes
    (``torchvision://``, ``open-mmlab://``, ``s3://`` ...) keep their own download code and run
    inside the same scoped allow-list. Calling it again is harmless.
    """

    def load_from_mmmoga_local(filename, map_location=None):
        return load_checkpoint_file(filename, map_location=map_location)

    def load_from_mmmoga_http(filename, map_location=None):
        return load_checkpoint_file(filename, map_location=map_location)

    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if prefix in ('', 'http://', 'https://') or getattr(loader, '_mmmoga_scoped', False):
            continue
        CheckpointLoader.register_scheme(prefix, _scoped(loader), force=True)
    CheckpointLoader.register_scheme('', load_from_mmmoga_local, force=True)
    CheckpointLoader.register_scheme(('http://', 'https://'), load_from_mmmoga_http, force=True)


def _scoped(loader: Callable) -> Callable:

    def scoped_loader(filename, map_location=None):
        with _scoped_allow_list():
            return loader(filename, map_location)

    scoped_loader.__name__ = loader.__name__  # mmengine logs the name
    scoped_loader._mmmoga_scoped = True
    return scoped_loader


# ------------------------------------------------------------------------------------------------
# state dicts


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
    if not isinstance(checkpoint, dict):
        raise TypeError(f'A checkpoint must hold a dict of tensors (or wrap one under state_dict '
                        f'/ model), got {type(checkpoint).__name__}')
    wrappers = ('state_dict_ema', 'state_dict', 'model') if use_ema else ('state_dict', 'model',
                                                                          'state_dict_ema')
    state_dict = checkpoint
    for key in wrappers:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            state_dict = checkpoint[key]
            break
    state_dict = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items()
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

    ``ignore_missing`` lists key prefixes that are expected to be fresh (e.g. HorNet's output
    norms, which no ImageNet checkpoint holds); they are reported at INFO level, everything else at
    WARNING.

    Raises:
        ValueError: keys whose shapes differ (named with both shapes), or a checkpoint of which no
            key belongs to the module: the checkpoint is of another architecture or variant.
    """
    logger = logger or MMLogger.get_current_instance()
    own = module.state_dict()
    name = type(module).__name__
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items()
                  if k in own and v.shape != own[k].shape]
    if mismatched:
        listed = '; '.join(f'{k}: checkpoint {a} vs model {b}' for k, a, b in mismatched[:10])
        more = f' (and {len(mismatched) - 10} more)' if len(mismatched) > 10 else ''
        shared = sum(k in own for k in state_dict)
        raise ValueError(
            f'{source} does not fit this {name}: {len(mismatched)} tensors have other shapes: '
            f'{listed}{more} ({shared} of the checkpoint\'s {len(state_dict)} keys exist in the '
            f'model). The checkpoint is of another architecture or variant; pick the checkpoint '
            f'of this arch (or the arch of this checkpoint).')
    if state_dict and not any(k in own for k in state_dict):
        raise ValueError(
            f'No key of {source} belongs to this {name} (checkpoint keys look like '
            f'{list(state_dict)[:3]}, the model\'s like {list(own)[:3]}). It is a checkpoint of '
            f'another model or key layout; tools/model_converters/ converts the timm/mmpretrain '
            f'layouts, and init_cfg.prefix selects a sub-module (e.g. prefix=\'backbone.\').')
    result = module.load_state_dict(state_dict, strict=False)
    ignore = tuple(ignore_missing)
    expected_missing = [k for k in result.missing_keys if ignore and k.startswith(ignore)]
    missing = [k for k in result.missing_keys if k not in expected_missing]
    loaded = len(state_dict) - len(result.unexpected_keys)
    logger.info(f'Loaded {loaded} tensors into {name} from {source}')
    if expected_missing:
        logger.info(f'Freshly initialised (not in the checkpoint, as expected): {expected_missing}')
    if missing:
        logger.warning(f'Missing keys in {source}: {missing}')
    if result.unexpected_keys:
        logger.warning(f'Unexpected keys in {source}: {result.unexpected_keys}')
