"""Downloads of the official releases: cache names by URL form, atomic writes, sha256 and size
checks, and the files that must be fetched by hand. What a URL does not say itself (the file name
behind a share link, a hash, a size, an extraction code) is the metafiles' ``Releases`` data
(:func:`mmmoga.metafiles.find_release`)."""
import hashlib
import os
import os.path as osp
import re
import tempfile
import urllib.request
from typing import Optional
from urllib.parse import urlparse

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_dist_info
from mmengine.logging import MMLogger

from mmmoga import metafiles
from .errors import CheckpointError, CheckpointNotFoundError, ChecksumError

_HF_FILE = re.compile(r'^/([^/]+)/([^/]+)/(?:resolve|blob)/([^/]+)/(.+)$')
_HASH_IN_NAME = re.compile(r'-([0-9a-f]{8,64})(?:\.[A-Za-z0-9]+)+$')


def _safe_name(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9._+-]', '_', name)


def release(url: Optional[str] = None, file: Optional[str] = None) -> dict:
    """The metafiles' release record of ``url`` or ``file`` (:func:`mmmoga.metafiles
    .find_release`); ``{}`` where none is listed or no metafiles are found."""
    return metafiles.find_release(url, file=file) or {}


def cache_file_name(url: str) -> str:
    """The file name a checkpoint URL is cached under (never empty).

    * a URL whose release (metafile ``Releases``) gives a ``File``: that name;
    * other Seafile share links ``https://<host>/f/<id>/?dl=1``: ``tsinghua_<id>.pth``
      (``seafile_<id>.pth`` on hosts other than Tsinghua Cloud);
    * Hugging Face ``https://huggingface.co/<org>/<repo>/resolve/<rev>/<file>[?download=true]``:
      ``<repo>_<file>`` (``<repo>_<rev>_<file>`` for a revision other than ``main``), since hub
      repositories share generic names such as ``pytorch_model.bin``;
    * anything else, GitHub releases included: the last component of the URL path (query
      dropped); ``download_<sha256 of the URL>.pth`` when the path has none.
    """
    named = release(url).get('File')
    if named:
        return named
    parsed = urlparse(url)
    path = parsed.path
    share = metafiles.SEAFILE_SHARE.match(path)
    if share:
        host = 'tsinghua' if parsed.netloc.endswith('tsinghua.edu.cn') else 'seafile'
        return f'{host}_{share.group(1)}.pth'
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
    if metafiles.SEAFILE_SHARE.match(parsed.path) and 'dl=1' not in parsed.query:
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
    """The sha256 the metafiles give for ``url`` (its release's ``SHA256``), or None."""
    return release(url).get('SHA256')


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
    leaves a truncated cache entry. The expected sha256 is ``sha256``, else the ``SHA256`` of the
    URL's release in the metafiles (:func:`release`), which may also give its ``Size``: a download
    that differs raises :class:`ChecksumError` and is not cached; a cached copy that differs is
    removed and downloaded again. A hash in the file name (``name-<sha256 prefix>.pth``) is
    checked too; otherwise the sha256 is logged. An HTML page instead of a checkpoint is an error.
    """
    logger = MMLogger.get_current_instance()
    record = release(url)
    expected = (sha256 or record.get('SHA256') or '').lower() or None
    release_size = record.get('Size')
    cache_dir = cache_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(cache_dir, exist_ok=True)
    name = cache_file_name(url)
    path = osp.join(cache_dir, name)
    if osp.isfile(path):
        problem = None
        if release_size is not None and osp.getsize(path) != release_size:
            problem = (f'The cached {path} has {osp.getsize(path)} bytes, but its release has '
                       f'{release_size}.')
        elif expected is not None and file_sha256(path) != expected:
            problem = _checksum_message(f'The cached {path}', file_sha256(path), expected)
        if problem is None:
            return path
        logger.warning(f'{problem} Removing it and downloading {url} again.')
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
        if release_size is not None and size != release_size:
            raise ChecksumError(
                f'The download of {url} has {size} bytes, but its release has {release_size} '
                f'(the metafile\'s `Size`): the file is damaged or was replaced; refused, '
                f'nothing was cached.')
        if expected is not None and digest != expected:
            raise ChecksumError(
                f'{_checksum_message(f"The download of {url}", digest, expected)} Refused; '
                f'nothing was cached. If the file was re-released on purpose, update the hash '
                f'(its release\'s `SHA256` in the metafile, or the sha256 you passed).')
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
    record = release(file=name)
    if record:
        code = record.get('Extraction Code')
        where = (f'published only on a share page with no direct download: {record["URL"]} '
                 f'(extraction code {code})' if code else f'published at {record["URL"]}')
        return (f'Checkpoint file not found: {filename}. The {record["Model"]} weights are '
                f'{where}. Download the file and save it as {osp.abspath(filename)} (mkdir -p '
                f'{osp.dirname(osp.abspath(filename))}), or point the config at your copy: '
                f'--cfg-options model.backbone.init_cfg.checkpoint=/path/to/{name}')
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
