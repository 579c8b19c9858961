"""The model zoo's metafiles as data: the entries and the releases they list, read from
``model-index.yml`` and ``metafiles/*.yml`` (the checkout's, or ``mmmoga/.mim`` of an installed
package). The checkpoint loader looks releases up here (:func:`find_release`), and
:func:`mmmoga.create_backbone` the weights of a name (:func:`released_weights`); the schema, the
measuring and the model-zoo pages are developer tooling (:mod:`mmmoga.devtools.model_zoo`).

Besides ``Models``, a metafile lists under ``Releases`` what the URLs themselves do not say about
the official files (:func:`releases`, read by the loader; fields in brackets are optional)::

    - URL: https://cloud.tsinghua.edu.cn/f/<id>/?dl=1   # as entries and configs spell it
      Model: what the file holds
      [File: the name it is saved under: the cache name of a download, or the local
       ``pretrained/<File>`` of a share page (required where the URL names no file)]
      [Extraction Code: the share page's code: no direct download (Baidu Netdisk)]
      [SHA256: its sha256]  [Size: its size in bytes]   # checked on every download

A download that differs from its release's SHA256 or Size is refused and not cached
(:func:`mmmoga.utils.checkpoint.download_checkpoint`). ``python
tools/model_converters/to_safetensors.py`` prints the sha256 of the file it writes.
"""
import glob
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlparse

import yaml

__all__ = [
    'MetafileError', 'default_root', 'metafile_names', 'metafile_paths', 'load_metafile',
    'load_entries', 'SEAFILE_SHARE', 'release_key', 'is_share_page', 'releases', 'find_release',
    'released_weights'
]


class MetafileError(ValueError):
    """A metafile problem; the message names the file, the entry and the fix."""


def default_root() -> str:
    """The directory with ``model-index.yml``: the checkout, or ``mmmoga/.mim`` when installed."""
    package = osp.dirname(osp.abspath(__file__))
    for root in (osp.dirname(package), osp.join(package, '.mim')):
        if osp.isfile(osp.join(root, 'model-index.yml')):
            return root
    raise MetafileError(f'no model-index.yml next to {package} (checkout) nor in {package}/.mim '
                        '(installed package); pass the repository root explicitly')


# ------------------------------------------------------------------------------------- loading
def _read_yaml(path: str):
    try:
        with open(path, encoding='utf-8') as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise MetafileError(f'{path}: not valid YAML: {err}') from err


def metafile_names(root: str) -> List[str]:
    """The metafiles there are, ``metafiles/*.yml``, by name (one per family, and the neck's)."""
    return sorted(
        osp.basename(p)[:-len('.yml')] for p in glob.glob(osp.join(root, 'metafiles', '*.yml')))


def metafile_paths(root: str) -> List[str]:
    """The metafiles ``model-index.yml`` imports, as absolute paths."""
    index_path = osp.join(root, 'model-index.yml')
    if not osp.isfile(index_path):
        raise MetafileError(f'{index_path} not found')
    index = _read_yaml(index_path) or {}
    imports = index.get('Import')
    if not isinstance(imports, list) or not imports:
        raise MetafileError(f'{index_path}: needs an `Import:` list of metafiles')
    return [osp.join(root, p) for p in imports]


def load_metafile(path: str) -> dict:
    data = _read_yaml(path)
    if not isinstance(data, dict) or 'Collections' not in data or 'Models' not in data:
        raise MetafileError(f'{path}: a metafile needs `Collections:` and `Models:` at top level')
    data['Models'] = data['Models'] or []
    return data


def load_entries(root: Optional[str] = None) -> List[dict]:
    """Every model entry of every imported metafile, with ``_metafile`` (its path) added."""
    root = root or default_root()
    entries = []
    for path in metafile_paths(root):
        for entry in load_metafile(path)['Models']:
            entry = dict(entry) if isinstance(entry, dict) else {'_raw': entry}
            entry['_metafile'] = path
            entries.append(entry)
    return entries


_RELEASES: Dict[str, List[dict]] = {}
#: the path of a Seafile share link (Tsinghua Cloud ``/f/<id>/``), which names no file
SEAFILE_SHARE = re.compile(r'^/f/([0-9a-fA-F]+)/?$')


def release_key(url: str) -> str:
    """What identifies a release URL across the forms it is written in: host and path, without
    the query (``?dl=1``, ``?download=true``) and trailing slash; a Hugging Face ``blob`` page is
    its ``resolve`` file; a Seafile share link (Tsinghua Cloud ``/f/<id>/``) is its share id, on
    any host."""
    parsed = urlparse(url)
    share = SEAFILE_SHARE.match(parsed.path)
    if share:
        return f'seafile:{share.group(1).lower()}'
    path = parsed.path.rstrip('/')
    if parsed.netloc.endswith('huggingface.co'):
        path = path.replace('/blob/', '/resolve/', 1)
    return f'{parsed.netloc.lower()}{path}'


def is_share_page(url: str) -> bool:
    """Whether ``url`` is a share link that names no file: Tsinghua Cloud (Seafile) ``/f/<id>/``
    or Baidu Netdisk ``/s/<id>``."""
    parsed = urlparse(url)
    return bool(SEAFILE_SHARE.match(parsed.path)) or parsed.netloc.endswith('pan.baidu.com')


def releases(root: Optional[str] = None, refresh: bool = False) -> List[dict]:
    """Every ``Releases`` record of the imported metafiles (read once per root), each with
    ``_metafile`` added."""
    root = root or default_root()
    if root in _RELEASES and not refresh:
        return _RELEASES[root]
    records = []
    for path in metafile_paths(root):
        if not osp.isfile(path):
            continue  # validate() reports it
        for record in load_metafile(path).get('Releases') or []:
            if isinstance(record, dict):
                records.append(dict(record, _metafile=path))
    _RELEASES[root] = records
    return records


def find_release(url: Optional[str] = None,
                 file: Optional[str] = None,
                 root: Optional[str] = None) -> Optional[dict]:
    """The release record of ``url`` (any of its forms, see :func:`release_key`), or the one whose
    ``File`` is ``file``; None where the metafiles list none (or no metafiles are found)."""
    try:
        records = releases(root)
    except (MetafileError, OSError):
        return None
    for record in records:
        if url is not None and isinstance(record.get('URL'), str) and release_key(
                record['URL']) == release_key(url):
            return record
        if file is not None and record.get('File') == file:
            return record
    return None


def released_weights(name: str, root: Optional[str] = None) -> Tuple[Optional[str], Optional[str]]:
    """The weights (URL, sha256 or None) of the metafile entry ``name``: its ``Weights`` (the
    release of that very model), else its ``Backbone Weights``; ``(None, None)`` if it has
    none. The sha256 is its release's (:func:`find_release`)."""
    root = root or default_root()
    for entry in load_entries(root):
        if entry.get('Name') != name:
            continue
        meta = entry.get('Metadata') or {}
        url = entry.get('Weights') or (meta.get('Backbone Weights') if meta.get(
            'Backbone Weights', 'none') != 'none' else None)
        if not url:
            return None, None
        release = find_release(url, root=root) or {}
        return url, release.get('SHA256')
    raise MetafileError(f'no metafile entry named {name!r} under {root}')
