"""Crash-safe file writes: after a kill at any moment a file is its old or its new complete self.

:func:`atomic_write_bytes` writes to a temporary file in the destination folder, flushes and
fsyncs it, renames it over the destination (atomic within one file system) and fsyncs the folder,
so the rename itself survives a power cut. A kill leaves at most the temporary file, named
``.<name>.<pid>.<random>.tmp`` (:func:`leftover_temp_files` finds them); the destination is never
truncated.

Errors name the folder and what to do: a full disk (``ENOSPC``/``EDQUOT``) raises
:class:`NoSpaceForCheckpointError` with the bytes needed and free, any other ``OSError`` raises
:class:`CheckpointWriteError`; in both cases the partial temporary file is removed and the
destination is unchanged.

Fault injection: ``MMMOGA_FAULT_SLOW_SAVE=<seconds>`` spreads every write over that many seconds
(and :func:`fault_pause` sleeps as long), so that a kill from outside can land inside a write;
``tools/misc/verify_faults.py`` sets it. Unset, nothing sleeps.
"""
import errno
import io
import os
import os.path as osp
import re
import shutil
import time
import uuid
from typing import List, Optional

import torch

from .checkpoint import CheckpointError

__all__ = [
    'CheckpointWriteError', 'NoSpaceForCheckpointError', 'atomic_write_bytes', 'atomic_write_text',
    'atomic_torch_save', 'leftover_temp_files', 'fault_pause', 'slow_save_seconds', 'format_bytes',
    'SLOW_SAVE_ENV'
]

#: seconds each checkpoint write (and each :func:`fault_pause`) takes; for fault injection only
SLOW_SAVE_ENV = 'MMMOGA_FAULT_SLOW_SAVE'
_TEMP_NAME = re.compile(r'^\.(?P<name>.+)\.\d+\.[0-9a-f]{8}\.tmp$')
_EDQUOT = getattr(errno, 'EDQUOT', errno.ENOSPC)
_NO_SPACE = (errno.ENOSPC, _EDQUOT)


class CheckpointWriteError(CheckpointError):
    """A checkpoint (or its ``last_checkpoint`` pointer) could not be written; the destination is
    unchanged and no temporary file is left."""


class NoSpaceForCheckpointError(CheckpointWriteError):
    """The disk (or quota) is full; ``folder``, ``needed`` and ``free`` (bytes) say how full."""

    def __init__(self, message: str, folder: str, needed: int, free: Optional[int]):
        super().__init__(message)
        self.folder, self.needed, self.free = folder, needed, free


def format_bytes(size: float) -> str:
    """``48194134`` -> ``'46.0 MiB'``."""
    for unit in ('bytes', 'KiB', 'MiB', 'GiB'):
        if abs(size) < 1024 or unit == 'GiB':
            return f'{size:.0f} {unit}' if unit == 'bytes' else f'{size:.1f} {unit}'
        size /= 1024
    return f'{size:.1f} GiB'


def slow_save_seconds() -> float:
    """The fault-injection delay of ``MMMOGA_FAULT_SLOW_SAVE`` (0 when unset)."""
    value = os.environ.get(SLOW_SAVE_ENV, '').strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f'{SLOW_SAVE_ENV}={value!r} is not a number of seconds; unset it, or set '
                         f'e.g. {SLOW_SAVE_ENV}=0.5') from None
    if seconds < 0:
        raise ValueError(f'{SLOW_SAVE_ENV}={value!r} is negative; use 0 or more seconds')
    return seconds


def fault_pause() -> None:
    """Sleep ``MMMOGA_FAULT_SLOW_SAVE`` seconds between the steps of a save (fault injection)."""
    seconds = slow_save_seconds()
    if seconds:
        time.sleep(seconds)


def _write(fd: int, chunk: memoryview) -> int:
    """Write what ``os.write`` takes of ``chunk``; the one place checkpoint bytes reach a file."""
    return os.write(fd, chunk)


def fsync_folder(folder: str) -> None:
    """Make a rename or removal in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the rename is still atomic
        pass
    finally:
        os.close(fd)


def _free_bytes(folder: str) -> Optional[int]:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _write_error(err: OSError, path: str, size: int) -> CheckpointWriteError:
    folder = osp.dirname(path)
    kept = (f'{osp.basename(path)} is unchanged'
            if osp.exists(path) else f'nothing was written to {osp.basename(path)}')
    if err.errno in _NO_SPACE:
        free = _free_bytes(folder)
        quota = err.errno == _EDQUOT and _EDQUOT != errno.ENOSPC
        what = 'disk quota exceeded' if quota else 'no space left on device'
        short = f' (free at least {format_bytes(size - free)} more there)' if (
            free is not None and free < size) else ''
        free_text = f'{format_bytes(free)} are free there' if free is not None else (
            'the free space could not be read')
        return NoSpaceForCheckpointError(
            f'Cannot write {osp.basename(path)} in {folder}: {what}. It needs '
            f'{format_bytes(size)} ({size} bytes) and {free_text}. The partial file was removed '
            f'and {kept}. Make room in {folder}{short}, or write the checkpoints to another disk '
            f'(--work-dir, or default_hooks.checkpoint.out_dir).',
            folder=folder,
            needed=size,
            free=free)
    return CheckpointWriteError(
        f'Cannot write {osp.basename(path)} in {folder}: {err.strerror or err} '
        f'({errno.errorcode.get(err.errno, err.errno)}). The partial file was removed and {kept}. '
        f'Check that the folder exists and is writable, or write the checkpoints elsewhere '
        f'(--work-dir, or default_hooks.checkpoint.out_dir).')


def atomic_write_bytes(data: bytes, path: str, chunk_size: int = 1 << 22) -> None:
    """Replace ``path`` by ``data`` so that a kill at any moment leaves the old or the new file.

    Raises:
        NoSpaceForCheckpointError: the disk or quota is full (the message names the folder, the
            bytes needed and free).
        CheckpointWriteError: any other ``OSError`` while writing.
    """
    path = osp.abspath(path)
    folder, name = osp.split(path)
    view = memoryview(data)
    delay = slow_save_seconds()
    if delay:  # fault injection: about 20 slices spread over `delay` seconds
        chunk_size = max(1 << 16, -(-len(view) // 20))
    tmp = osp.join(folder, f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
    fd = None
    try:
        os.makedirs(folder, exist_ok=True)
        # 0o666 & ~umask, as open() would; O_EXCL: never write through someone else's file
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_BINARY', 0), 0o666)
        chunks = max(1, -(-len(view) // chunk_size))
        offset = 0
        while offset < len(view):
            offset += _write(fd, view[offset:offset + chunk_size])
            if delay:
                time.sleep(delay / chunks)
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
    except BaseException as err:
        if fd is not None:
            os.close(fd)
        if osp.exists(tmp):
            os.remove(tmp)
        if isinstance(err, OSError):
            raise _write_error(err, path, len(view)) from err
        raise
    fsync_folder(folder)


def atomic_write_text(text: str, path: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8 (e.g. mmengine's ``last_checkpoint``)."""
    atomic_write_bytes(text.encode('utf-8'), path)


def atomic_torch_save(obj, path: str) -> int:
    """``torch.save(obj, path)`` through :func:`atomic_write_bytes`; returns the file size."""
    with io.BytesIO() as buffer:
        torch.save(obj, buffer)
        data = buffer.getvalue()
    atomic_write_bytes(data, path)
    return len(data)


def leftover_temp_files(folder: str) -> List[str]:
    """Temporary files of :func:`atomic_write_bytes` in ``folder`` (left by a killed writer)."""
    if not osp.isdir(folder):
        return []
    return sorted(osp.join(folder, name) for name in os.listdir(folder) if _TEMP_NAME.match(name))
