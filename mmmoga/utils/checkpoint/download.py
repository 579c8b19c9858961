"""Downloads of the official releases: cache names by URL form, atomic writes, sha256 checks,
and the Baidu-only files that must be fetched by hand."""
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

from .errors import CheckpointError, CheckpointNotFoundError, ChecksumError

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
