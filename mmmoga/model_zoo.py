"""The model zoo as data: one metafile per family in OpenMMLab's model-index format.

``model-index.yml`` imports ``metafiles/{moganet,hornet,conv2former,inceptionnext,horfpn}.yml``;
each lists its configs under ``Models``. This module loads them, validates every entry against the
schema below, measures the figures the metafiles claim (parameters of the model the config builds,
FLOPs from :func:`mmmoga.utils.complexity.count_complexity`), and renders the README's model-zoo
tables from them. ``tools/model_zoo.py`` is its command line; ``mim search mmmoga`` reads the same
files from the installed package.

One entry (fields in brackets are optional)::

    - Name: mask_rcnn_moganet_s          # the config file's stem
      In Collection: MogaNet             # a collection of the same metafile
      Config: configs/mask_rcnn_moganet_s.py
      Metadata:
        Framework, Schedule, Training Data, Pretrain, Input Size (WxH, the FLOPs input),
        Parameters (int, measured), FLOPs (int MACs, measured; toy configs may omit it),
        Paper Parameters, Paper FLOPs (as printed, '-' for none), Backbone Weights (URL or 'none'),
        Weights Host, [Measured: true (Results are this repository's measurements)]
      Results: [{Task, Dataset, Metrics: {metric name: number}}, ...]  (omitted only when the Note
        starts with 'no paper figure')
      Paper Row: where the paper figures come from
      [Note: why a figure differs, 'no paper figure: ...', ...]
      [Command: how the measured Results were produced (entries with Measured: true)]
      [Weights: the released weights of this very model (ImageNet classifiers)]
      [Weights SHA256: sha256 of the file at `Weights`]
      (and, in Metadata, [Backbone Weights SHA256: sha256 of the file at `Backbone Weights`])

A download of a URL whose sha256 a metafile gives is checked against it
(:func:`weight_hashes`; :func:`mmmoga.utils.checkpoint.download_checkpoint`): a file that differs
is refused and not cached. ``python tools/model_converters/to_safetensors.py`` prints the sha256 of
the file it writes.
"""
import difflib
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Tuple

import yaml

METAFILE_NAMES = ('moganet', 'hornet', 'conv2former', 'inceptionnext', 'horfpn')
TASKS = ('Object Detection', 'Instance Segmentation', 'Semantic Segmentation', 'Pose Estimation',
         'Image Classification')
METRICS = ('box AP', 'mask AP', 'mIoU', 'mIoU (ms+flip)', 'mAcc', 'AP', 'AP50', 'AP75', 'AR',
           'Top 1 Accuracy')
WEIGHTS_HOSTS = ('GitHub releases', 'Tsinghua Cloud', 'Baidu Netdisk (no direct URL)',
                 'Hugging Face', 'PyTorch (torchvision)', 'OpenMMLab', 'none')
PRETRAINS = ('ImageNet-1K', 'ImageNet-22K', 'none')
TRAINING_DATA = ('COCO', 'ADE20K', 'COCO keypoints', 'ImageNet-1K')  # or 'toy <dataset>'
REQUIRED_FIELDS = ('Name', 'In Collection', 'Config', 'Metadata', 'Results', 'Paper Row')
OPTIONAL_FIELDS = ('Note', 'Command', 'Weights', 'Weights SHA256', 'README', 'Paper', 'Code')
REQUIRED_METADATA = ('Framework', 'Schedule', 'Training Data', 'Pretrain', 'Input Size',
                     'Parameters', 'Paper Parameters', 'Paper FLOPs', 'Backbone Weights',
                     'Weights Host')
OPTIONAL_METADATA = ('FLOPs', 'Measured', 'Backbone Weights SHA256')
SHA256 = re.compile(r'[0-9a-f]{64}')
# an entry whose FLOPs were not counted yet says so explicitly (README: 'not measured')
FLOPS_NOT_MEASURED = 'not measured'
MARKER_START = '<!-- model-zoo:start -->'
MARKER_END = '<!-- model-zoo:end -->'
GET_FLOPS = 'python tools/analysis/get_flops.py'


class MetafileError(ValueError):
    """A metafile or README problem; the message names the file, the entry and the fix."""


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


_WEIGHT_HASHES: Dict[str, Dict[str, str]] = {}


def weight_hashes(root: Optional[str] = None, refresh: bool = False) -> Dict[str, str]:
    """Weight URL -> sha256, from every ``Weights SHA256`` / ``Backbone Weights SHA256`` of the
    metafiles (read once per root). Two different hashes for one URL are an error."""
    root = root or default_root()
    if root in _WEIGHT_HASHES and not refresh:
        return _WEIGHT_HASHES[root]
    hashes: Dict[str, str] = {}
    for entry in load_entries(root):
        meta = entry.get('Metadata') if isinstance(entry.get('Metadata'), dict) else {}
        for url, digest in ((entry.get('Weights'), entry.get('Weights SHA256')),
                            (meta.get('Backbone Weights'), meta.get('Backbone Weights SHA256'))):
            if not (url and digest):
                continue
            if hashes.get(url, digest) != digest:
                raise MetafileError(f'{entry.get("Name")}: {url} has two different sha256 in the '
                                    f'metafiles ({hashes[url]} and {digest}); keep the right one')
            hashes[url] = digest
    _WEIGHT_HASHES[root] = hashes
    return hashes


def released_weights(name: str, root: Optional[str] = None) -> Tuple[Optional[str], Optional[str]]:
    """The weights (URL, sha256 or None) of the metafile entry ``name``: its ``Weights`` (the
    release of that very model), else its ``Backbone Weights``; ``(None, None)`` if it has
    none."""
    root = root or default_root()
    for entry in load_entries(root):
        if entry.get('Name') != name:
            continue
        meta = entry.get('Metadata') or {}
        if entry.get('Weights'):
            return entry['Weights'], entry.get('Weights SHA256')
        if meta.get('Backbone Weights', 'none') != 'none':
            return meta['Backbone Weights'], meta.get('Backbone Weights SHA256')
        return None, None
    raise MetafileError(f'no metafile entry named {name!r} under {root}')


# ---------------------------------------------------------------------------------- validation
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_entry(entry: dict, collections: Iterable[str], root: str) -> List[str]:
    """Schema problems of one entry, each naming the field and what it should be."""
    if '_raw' in entry:
        return [f'entry {entry["_raw"]!r} is not a mapping']
    name = entry.get('Name', '<no Name>')
    errors = []

    def error(msg):
        errors.append(f'{osp.relpath(entry["_metafile"], root)}: {name}: {msg}')

    no_paper_figure = str(entry.get('Note', '')).startswith('no paper figure')
    for field in REQUIRED_FIELDS:
        if field not in entry and not (field == 'Results' and no_paper_figure):
            error(f'missing required field `{field}`' +
                  (" (an entry without any paper metric says so with a Note starting 'no paper "
                   "figure')" if field == 'Results' else ''))
    allowed = REQUIRED_FIELDS + OPTIONAL_FIELDS
    for field in entry:
        if field != '_metafile' and field not in allowed:
            error(f'unknown field `{field}` (allowed: {", ".join(allowed)})')
    config = entry.get('Config')
    if config is not None:
        if not isinstance(config, str) or not config.startswith('configs/'):
            error(f'`Config` must be a path under configs/, got {config!r}')
        else:
            if osp.splitext(osp.basename(config))[0] != name:
                error(f'`Name` must be the config file\'s stem ({osp.basename(config)[:-3]})')
            if not osp.isfile(osp.join(root, config)):
                error(f'`Config` points at a missing file: {config}')
    if 'In Collection' in entry and entry['In Collection'] not in collections:
        error(f'`In Collection: {entry["In Collection"]}` is not a collection of this metafile '
              f'({", ".join(collections)})')
    for field in ('Paper Row', 'Note', 'Command'):
        if field in entry and not isinstance(entry[field], str):
            error(f'`{field}` must be a string')

    meta = entry.get('Metadata')
    measured = False
    if meta is not None and not isinstance(meta, dict):
        error('`Metadata` must be a mapping')
    elif meta is not None:
        measured = meta.get('Measured', False)
        if not isinstance(measured, bool):
            error('`Metadata.Measured` must be true or false')
        for field in REQUIRED_METADATA:
            if field not in meta:
                error(f'missing required field `Metadata.{field}`')
        if 'FLOPs' not in meta and not measured:
            error('missing `Metadata.FLOPs` (only toy configs, with `Measured: true`, may omit '
                  f'it): run `python tools/model_zoo.py measure {config}`, or write '
                  f'`FLOPs: {FLOPS_NOT_MEASURED}` until it is measured')
        for field in meta:
            if field not in REQUIRED_METADATA + OPTIONAL_METADATA:
                error(f'unknown field `Metadata.{field}`')
        for field in ('Parameters', 'FLOPs'):
            if field == 'FLOPs' and meta.get(field) == FLOPS_NOT_MEASURED:
                continue
            if field in meta and not (_is_int(meta[field]) and meta[field] > 0):
                error(f'`Metadata.{field}` must be a positive integer (measured), got '
                      f'{meta[field]!r}')
        size = meta.get('Input Size')
        if size is not None and not re.fullmatch(r'\d+x\d+', str(size)):
            error(f'`Metadata.Input Size` must be WxH (e.g. 1280x800), got {size!r}')
        for field, allowed in (('Weights Host', WEIGHTS_HOSTS), ('Pretrain', PRETRAINS)):
            if field in meta and meta[field] not in allowed:
                error(f'`Metadata.{field}: {meta[field]}` is not one of {", ".join(allowed)}')
        data = meta.get('Training Data')
        if data is not None and data not in TRAINING_DATA and not str(data).startswith('toy '):
            error(f'`Metadata.Training Data: {data}` is not one of {", ".join(TRAINING_DATA)} '
                  "or 'toy <dataset>'")
        for field in ('Framework', 'Schedule', 'Paper Parameters', 'Paper FLOPs',
                      'Backbone Weights'):
            if field in meta and not (isinstance(meta[field], str) and meta[field].strip()):
                error(f'`Metadata.{field}` must be a non-empty string (quote numbers; '
                      "'-' where the paper gives none)")
        weights, host = meta.get('Backbone Weights'), meta.get('Weights Host')
        if isinstance(weights, str) and host is not None:
            if (host == 'none') != (weights == 'none'):
                error("`Backbone Weights: none` goes with `Weights Host: none` and only with it")
            elif host not in ('none', 'Baidu Netdisk (no direct URL)') and not re.match(
                    r'(https?|torchvision|open-mmlab)://', weights):
                error(f'`Metadata.Backbone Weights` must be a URL, got {weights!r}')

    results = entry.get('Results')
    if results is not None:
        if not isinstance(results, list) or not results:
            error('`Results` must be a non-empty list of {Task, Dataset, Metrics}')
        else:
            for result in results:
                if not isinstance(result, dict) or set(result) != {'Task', 'Dataset', 'Metrics'}:
                    error(f'each result needs exactly Task, Dataset and Metrics, got {result!r}')
                    continue
                if result['Task'] not in TASKS:
                    error(f'unknown Task {result["Task"]!r} (one of {", ".join(TASKS)})')
                metrics = result['Metrics']
                if not isinstance(metrics, dict) or not metrics:
                    error(f'`Metrics` of {result["Task"]} must be a non-empty mapping')
                    continue
                for metric, value in metrics.items():
                    if metric not in METRICS:
                        error(f'unknown metric {metric!r} (one of {", ".join(METRICS)})')
                    if not _is_number(value):
                        error(f'metric {metric} must be a number, got {value!r}')
    for owner, url_field, field in ((entry, 'Weights', 'Weights SHA256'),
                                    (meta if isinstance(meta, dict) else {}, 'Backbone Weights',
                                     'Backbone Weights SHA256')):
        if field not in owner:
            continue
        if not SHA256.fullmatch(str(owner[field])):
            error(f'`{field}` must be 64 lowercase hex digits (the sha256 the converter prints), '
                  f'got {owner[field]!r}')
        if not re.match(r'https?://', str(owner.get(url_field, ''))):
            error(f'`{field}` needs `{url_field}` to be a URL (it is the hash of that file)')
    if measured and 'Command' not in entry:
        error('entries with `Measured: true` need `Command` (how the Results were produced)')
    return errors


def validate(root: Optional[str] = None,
             configs: Optional[Iterable[str]] = None,
             coverage: bool = True) -> List[str]:
    """Every problem of the model zoo: model-index imports, each entry's schema, and (``coverage``)
    that every config in ``configs/*.py`` has exactly one entry."""
    root = root or default_root()
    errors = []
    paths = metafile_paths(root)
    expected = sorted(f'metafiles/{n}.yml' for n in METAFILE_NAMES)
    found = sorted(osp.relpath(p, root) for p in paths)
    if found != expected:
        errors.append(f'model-index.yml must import exactly {expected}, imports {found}')
    names: Dict[str, List[str]] = {}
    by_config: Dict[str, List[str]] = {}
    for path in paths:
        if not osp.isfile(path):
            errors.append(f'model-index.yml imports a missing file: {osp.relpath(path, root)}')
            continue
        data = load_metafile(path)
        collections = [c.get('Name') for c in data['Collections'] or []]
        for entry in data['Models']:
            entry = dict(entry) if isinstance(entry, dict) else {'_raw': entry}
            entry['_metafile'] = path
            errors.extend(validate_entry(entry, collections, root))
            where = osp.relpath(path, root)
            if 'Name' in entry:
                names.setdefault(entry['Name'], []).append(where)
            if isinstance(entry.get('Config'), str):
                by_config.setdefault(osp.normpath(entry['Config']), []).append(where)
    try:
        weight_hashes(root, refresh=True)
    except MetafileError as err:
        errors.append(str(err))
    for name, where in names.items():
        if len(where) > 1:
            errors.append(f'`Name: {name}` appears {len(where)} times ({", ".join(where)}); '
                          'names must be unique')
    if not coverage:
        return errors
    if configs is None:
        configs = sorted(f'configs/{f}' for f in os.listdir(osp.join(root, 'configs'))
                         if f.endswith('.py'))
    for config in configs:
        where = by_config.get(osp.normpath(config), [])
        if not where:
            errors.append(f'{config} has no metafile entry: add one to its family\'s metafile '
                          f'(metafiles/<family>.yml, see mmmoga/model_zoo.py for the schema)')
        elif len(where) > 1:
            errors.append(f'{config} has {len(where)} metafile entries ({", ".join(where)}); '
                          'keep exactly one')
    return errors


# --------------------------------------------------------------------------------- measuring
def input_hw(entry: dict) -> Tuple[int, int]:
    """``Input Size`` (WxH) as (height, width), the order of get_flops.py's ``--shape``."""
    width, height = (int(v) for v in str(entry['Metadata']['Input Size']).split('x'))
    return height, width


def config_backbone_weights(cfg) -> str:
    """The pretrained file a config loads into its backbone (``init_cfg`` or model-level
    ``pretrained``; else ``load_from``), or ``'none'``."""
    model = cfg.model
    backbone = model.get('backbone', {})
    init_cfg = backbone.get('init_cfg') or {}
    if isinstance(init_cfg, dict) and init_cfg.get('checkpoint'):
        return init_cfg['checkpoint']
    for owner in (backbone, model):
        if owner.get('pretrained'):
            return owner['pretrained']
    return cfg.get('load_from') or 'none'  # e.g. a classifier evaluated as released


def measure_params(cfg) -> int:
    """Parameters of the model the config builds (on the meta device: structure only)."""
    from mmmoga.utils.complexity import build_model, count_params
    return count_params(build_model(cfg, device='meta'))


def measure_entry(entry: dict, root: str, flops: bool = True) -> dict:
    """Measured ``Parameters`` (and ``FLOPs`` at ``Input Size``) of an entry's config."""
    from mmengine.config import Config

    from mmmoga.utils.complexity import count_complexity
    cfg = Config.fromfile(osp.join(root, entry['Config']))
    if not flops:
        return dict(Parameters=measure_params(cfg))
    height, width = input_hw(entry)
    info = count_complexity(cfg, height, width)
    return dict(Parameters=info['params'], FLOPs=info['flops'])


def write_measured(metafile: str, name: str, values: dict) -> None:
    """Set ``Metadata.Parameters`` / ``Metadata.FLOPs`` of one entry by editing only those lines
    (other entries, comments and layout stay as they are; the file is re-read just before)."""
    with open(metafile, encoding='utf-8') as f:
        lines = f.read().split('\n')
    start = next((i for i, line in enumerate(lines)
                  if re.fullmatch(rf'\s*- Name: {re.escape(name)}\s*', line)), None)
    if start is None:
        raise MetafileError(f'{metafile}: no entry `- Name: {name}`')
    end = next((i for i in range(start + 1, len(lines)) if re.match(r'\s*- Name: ', lines[i])),
               len(lines))
    for field, value in values.items():
        pattern = re.compile(rf'^(\s+){re.escape(field)}: .*$')
        hit = next((i for i in range(start, end) if pattern.match(lines[i])), None)
        if hit is not None:
            lines[hit] = f'{pattern.match(lines[hit]).group(1)}{field}: {value}'
            continue
        anchor = next(
            (i for i in range(start, end) if re.match(r'^\s+(Input Size|Parameters): ', lines[i])),
            None)
        if anchor is None:
            raise MetafileError(f'{metafile}: {name}: no `Metadata.Input Size` line to add '
                                f'`{field}` after')
        indent = re.match(r'^(\s+)', lines[anchor]).group(1)
        lines.insert(anchor + 1, f'{indent}{field}: {value}')
        end += 1
    with open(metafile, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))


# ------------------------------------------------------------------------------------ README
def _fmt_params(n: Optional[int]) -> str:
    return f'{n / 1e6:.2f}M' if n else '-'


def _fmt_flops(n: Optional[int]) -> str:
    if n == FLOPS_NOT_MEASURED:
        return n
    return f'{n / 1e9:.1f}G' if n else '-'


def _fmt_metric(value) -> str:
    return str(value) if _is_number(value) else '-'  # 40.0 stays 40.0, as printed


def _weights_cell(meta: dict) -> str:
    host, url = meta['Weights Host'], meta['Backbone Weights']
    if host == 'none':
        return 'none (from scratch)'
    if re.match(r'https?://', url):
        return f'[{host}]({url})'
    return f'{host}: `{url}`'


def _metric_columns(entries: List[dict]) -> List[Tuple[str, str]]:
    columns = OrderedDict()
    for entry in entries:
        for result in entry.get('Results') or []:
            for metric in result['Metrics']:
                columns[(result['Task'], metric)] = None
    return list(columns)


def _metric_value(entry: dict, task: str, metric: str):
    for result in entry.get('Results') or []:
        if result['Task'] == task and metric in result['Metrics']:
            return result['Metrics'][metric]
    return None


def _table(entries: List[dict]) -> List[str]:
    measured = entries[0]['Metadata'].get('Measured', False)
    metrics = _metric_columns(entries)
    label = 'measured' if measured else 'paper'
    header = [
        'config', 'schedule', 'pretrain', 'params paper', 'params measured', 'FLOPs paper',
        'FLOPs measured', *[f'{metric} {label}' for _, metric in metrics], 'backbone weights'
    ]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for entry in entries:
        meta = entry['Metadata']
        row = [
            f'[`{entry["Name"]}`]({entry["Config"]})', meta['Schedule'], meta['Pretrain'],
            meta['Paper Parameters'],
            _fmt_params(meta.get('Parameters')), meta['Paper FLOPs'],
            _fmt_flops(meta.get('FLOPs')),
            *[_fmt_metric(_metric_value(entry, task, metric)) for task, metric in metrics],
            _weights_cell(meta)
        ]
        lines.append('| ' + ' | '.join(str(c) for c in row) + ' |')
    return lines


def _group_key(entry: dict) -> tuple:
    meta = entry['Metadata']
    return (entry['In Collection'], meta['Framework'], meta['Training Data'],
            bool(meta.get('Measured', False)))


def render_tables(root: Optional[str] = None) -> str:
    """The README's model-zoo region (between the markers) from the metafiles: one table per
    collection, framework and dataset; measured (toy) tables first, then the paper rows."""
    root = root or default_root()
    groups: Dict[tuple, List[dict]] = OrderedDict()
    for entry in load_entries(root):
        groups.setdefault(_group_key(entry), []).append(entry)
    ordered = ([k for k in groups if k[3]] + [k for k in groups if not k[3]])
    out = [
        MARKER_START,
        '<!-- generated by `python tools/model_zoo.py readme` from metafiles/*.yml; edit those, '
        'not this region -->',
        '',
        'Generated from `metafiles/*.yml` (`python tools/model_zoo.py readme`; `mim search '
        'mmmoga` lists the same entries). "params measured" counts the model the config builds; '
        '"FLOPs measured" are multiply-accumulates of '
        f'`{GET_FLOPS}` (mmengine\'s counter, FFTs not counted) on one image of the '
        'size given under each table. "paper" columns are printed as the paper or the official '
        'README gives them.',
    ]
    for key in ordered:
        collection, framework, data, measured = key
        entries = groups[key]
        title = f'{collection}: {framework}, {data}' + (' (measured here)' if measured else '')
        out += ['', f'### {title}', '']
        out += _table(entries)
        sizes = OrderedDict((e['Metadata']['Input Size'], e) for e in entries)
        shapes = [
            f'`{GET_FLOPS} CONFIG --shape {" ".join(map(str, input_hw(e)))}` ({size}, WxH)'
            for size, e in sizes.items()
        ]
        out += [
            '', f'FLOPs measured with {" / ".join(shapes)}; `python tools/model_zoo.py '
            'measure CONFIG` writes params and FLOPs into the entry.'
        ]
        for entry in entries:
            notes = [entry['Note']] if entry.get('Note') else []
            if entry['Metadata'].get('Measured') and entry.get('Command'):
                notes.append(f'results: `{entry["Command"]}`')
            if notes:
                out.append(f'- `{entry["Name"]}`: ' + '; '.join(notes))
    out += ['', MARKER_END]
    return '\n'.join(out)


def replace_region(readme: str, region: str, path: str = 'README.md') -> str:
    if readme.count(MARKER_START) != 1 or readme.count(MARKER_END) != 1:
        raise MetafileError(f'{path} must contain {MARKER_START} and {MARKER_END} exactly once '
                            '(where the model-zoo tables go)')
    start = readme.index(MARKER_START)
    end = readme.index(MARKER_END) + len(MARKER_END)
    if end < start:
        raise MetafileError(f'{path}: {MARKER_END} comes before {MARKER_START}')
    return readme[:start] + region + readme[end:]


def readme_diff(root: Optional[str] = None,
                readme_path: Optional[str] = None,
                region: Optional[str] = None) -> str:
    """Unified diff between the README and what :func:`render_tables` generates ('' if equal)."""
    root = root or default_root()
    readme_path = readme_path or osp.join(root, 'README.md')
    with open(readme_path, encoding='utf-8') as f:
        current = f.read()
    wanted = replace_region(current, region or render_tables(root), readme_path)
    return ''.join(
        difflib.unified_diff(
            current.splitlines(True), wanted.splitlines(True), 'README.md',
            'README.md (generated)'))


def update_readme(root: Optional[str] = None,
                  readme_path: Optional[str] = None,
                  region: Optional[str] = None) -> bool:
    """Rewrite the README's model-zoo region; returns whether it changed."""
    root = root or default_root()
    readme_path = readme_path or osp.join(root, 'README.md')
    with open(readme_path, encoding='utf-8') as f:
        current = f.read()
    wanted = replace_region(current, region or render_tables(root), readme_path)
    if wanted != current:
        with open(readme_path, 'w', encoding='utf-8') as f:
            f.write(wanted)
    return wanted != current
