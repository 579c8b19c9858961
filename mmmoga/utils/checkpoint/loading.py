"""Loading a checkpoint file: weights-only with the scoped allow-list, safetensors without
unpickling, corrupt files named with the checkpoint to resume from; mmengine's loaders routed
here."""
import logging
import os
import os.path as osp
import pickle
import pickletools
import re
import zipfile
from typing import Callable, Dict, List, Optional

import torch
from mmengine.logging import MMLogger
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors_file

from .download import resolve_checkpoint
from .errors import OPT_IN_HELP, CorruptCheckpointError, UntrustedCheckpointError
from .trust import is_trusted, scoped_allow_list

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
    with scoped_allow_list():
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
    if unsafe_unpickle or is_trusted(filename, path):
        logger.warning(f'Loading {filename} with a full unpickle (weights_only=False) as opted '
                       f'in (unsafe_unpickle); this runs any code the file contains.')
        return torch.load(path, map_location=map_location, weights_only=False)
    if osp.getsize(path) == 0:
        raise CorruptCheckpointError(f'Checkpoint {filename} is an empty file (0 bytes). Copy or '
                                     f'download it again.')
    try:
        with scoped_allow_list():
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


def register_mmengine_loaders() -> bool:
    """Route mmengine's ``CheckpointLoader`` through :func:`load_checkpoint_file`.

    Local paths and http(s) URLs (``--resume``, ``load_from``, ``init_detector`` / ``init_model``,
    ``Pretrained`` init of any module) load through mmmoga's loader; mmengine's other schemes
    (``torchvision://``, ``open-mmlab://``, ``s3://`` ...) keep their own download code and run
    inside the same scoped allow-list. Calling it again is harmless. Returns False, routing
    nothing, where mmengine's runner cannot be imported for want of OpenCV (which it imports):
    then no mmengine load exists to route.
    """
    try:
        from mmengine.runner.checkpoint import CheckpointLoader
    except ModuleNotFoundError as error:
        if error.name != 'cv2':
            raise
        return False

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
    return True


def _scoped(loader: Callable) -> Callable:

    def scoped_loader(filename, map_location=None):
        with scoped_allow_list():
            return loader(filename, map_location)

    scoped_loader.__name__ = loader.__name__  # mmengine logs the name
    scoped_loader._mmmoga_scoped = True
    return scoped_loader
