"""Checkpoint conversions between other libraries' key layouts and the official ones.

Plain functions from a state dict to a state dict, like timm's checkpoint filters; the command lines
in ``tools/model_converters/`` only read, call and write. The official layouts are what mmmoga's
backbones load through ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

* :func:`convert_hornet_mmpretrain`: mmpretrain HorNet -> official HorNet (raoyongming/HorNet);
* :func:`convert_inceptionnext_timm`: timm / timm ``features_only`` / mmpretrain InceptionNeXt ->
  official InceptionNeXt (sail-sg/inceptionnext);
* :func:`extract_backbone`: the ``backbone.*`` tensors of a full mmdet / mmseg / mmpose /
  mmpretrain checkpoint;
* :func:`release_to_safetensors`: an official release (any wrapper, ``module.`` /
  ``backbone.`` prefixes) -> a ``.safetensors`` file of our key layout, which loads without
  unpickling anything;
* :func:`unwrap_state_dict` and :func:`load_source` (``.pth`` / ``.bin`` through
  :func:`mmmoga.utils.load_checkpoint_file`, which never runs code from a file, or
  ``.safetensors``).
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from safetensors.torch import save_file

from mmmoga.utils.checkpoint import extract_state_dict, file_sha256, load_checkpoint_file
from mmmoga.version import __version__

__all__ = [
    'unwrap_state_dict', 'load_source', 'convert_hornet_mmpretrain', 'convert_inceptionnext_timm',
    'extract_backbone', 'release_to_safetensors', 'HORNET_OFFICIAL_KEY',
    'INCEPTIONNEXT_OFFICIAL_KEY', 'HORNET_LAYOUTS'
]

StateDict = Dict[str, torch.Tensor]


def unwrap_state_dict(checkpoint: dict, use_ema: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """The tensors of a checkpoint, unwrapped from ``state_dict`` / ``model`` (and, with
    ``use_ema``, preferably ``state_dict_ema``)."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'A checkpoint must be a dict (of tensors, or wrapping them under '
                        f'state_dict / model), got {type(checkpoint).__name__}')
    wrappers = ('state_dict_ema', 'state_dict', 'model') if use_ema else ('state_dict', 'model')
    for key in wrappers:
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    return OrderedDict((k, v) for k, v in checkpoint.items() if isinstance(v, torch.Tensor))


def load_source(path: str, unsafe_unpickle: bool = False) -> dict:
    """Read a checkpoint to convert (path or URL) through
    :func:`mmmoga.utils.load_checkpoint_file`: ``.safetensors`` with safetensors, anything else
    with ``weights_only=True`` (``unsafe_unpickle`` for a trusted file that needs more)."""
    return load_checkpoint_file(path, unsafe_unpickle=unsafe_unpickle)


# ------------------------------------------------------------------------------------------ HorNet

HORNET_OFFICIAL_KEY = re.compile(
    r'^(downsample_layers\.\d+\.[01]\.(weight|bias)'
    r'|stages\.\d+\.\d+\.(gamma[12]'
    r'|(norm[12]|pwconv[12])\.(weight|bias)'
    r'|gnconv\.(proj_in|proj_out|pws\.\d+)\.(weight|bias)'
    r'|gnconv\.dwconv\.(weight|bias|complex_weight|dw\.weight|(pre|post)_norm\.(weight|bias)))'
    r'|norm\d?\.(weight|bias)'
    r'|head\.(weight|bias))$')
HORNET_LAYOUTS = ('auto', 'cls', 'dense')


def convert_hornet_mmpretrain(
        state_dict: StateDict,
        layout: str = 'auto',
        drop_head: bool = False) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Map mmpretrain HorNet keys to the official HorNet keys.

    mmpretrain (``mmpretrain/models/backbones/hornet.py``) renames ``gnconv.pws`` to
    ``gnconv.projs`` and stores the layer scales as ``gamma{1,2}.weight``; its classifier keeps the
    final norm as ``norm3`` and the linear head as ``head.fc``. This undoes that; ``backbone.`` and
    ``module.`` prefixes are stripped, ``data_preprocessor.*`` and (in a detector or segmentor)
    every key outside ``backbone.`` are dropped.

    Args:
        state_dict: an unwrapped state dict (see :func:`unwrap_state_dict`).
        layout: ``'cls'`` (``norm3`` is the final classification norm -> ``norm``, ``head.fc`` ->
            ``head``), ``'dense'`` (``norm{i}`` are the dense model's output norms) or ``'auto'``
            (``cls`` when ``norm3`` is the only output norm, as ``gap_before_final_norm=True``
            builds).
        drop_head: drop the classifier (backbone-only output).

    Returns:
        The converted state dict and the list of source keys that were dropped.

    Raises:
        ValueError: an unknown ``layout``, a backbone key with no official counterpart (listed by
            name), or two keys that map to the same official key.
    """
    if layout not in HORNET_LAYOUTS:
        raise ValueError(f'Unknown layout {layout!r}; valid choices: {list(HORNET_LAYOUTS)}')
    state_dict = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
    has_backbone_prefix = any(k.startswith('backbone.') for k in state_dict)
    if layout == 'auto':
        out_norms = {
            m.group(1)
            for k in state_dict
            for m in [re.match(r'^(?:backbone\.)?norm(\d)\.', k)] if m
        }
        layout = 'cls' if out_norms == {'3'} else 'dense'

    converted, dropped, unknown = OrderedDict(), [], []
    for key, value in state_dict.items():
        if key.startswith('head.fc.') and layout == 'cls':
            new_key = 'head.' + key[len('head.fc.'):]
        elif key.startswith('backbone.') or not has_backbone_prefix:
            new_key = key[len('backbone.'):] if has_backbone_prefix else key
            new_key = new_key.replace('.gnconv.projs.', '.gnconv.pws.')
            new_key = re.sub(r'\.(gamma[12])\.weight$', r'.\1', new_key)
            if layout == 'cls':
                new_key = re.sub(r'^norm3\.', 'norm.', new_key)
        else:
            dropped.append(key)
            continue
        if (drop_head and new_key.startswith('head.')) or new_key.startswith('data_preprocessor.'):
            dropped.append(key)
            continue
        if not HORNET_OFFICIAL_KEY.match(new_key):
            unknown.append(key)
            continue
        if new_key in converted:
            raise ValueError(
                f'Two keys map to the official key {new_key!r} (the second is {key!r})')
        converted[new_key] = value
    if unknown:
        raise ValueError(f'{len(unknown)} keys have no official HorNet counterpart: {unknown}')
    return converted, dropped


# ----------------------------------------------------------------------------------- InceptionNeXt

_NORM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
INCEPTIONNEXT_OFFICIAL_KEY = re.compile(r'^(stem\.0\.(weight|bias)'
                                        rf'|stem\.1\.{_NORM}'
                                        r'|stages\.\d+\.downsample\.1\.(weight|bias)'
                                        rf'|stages\.\d+\.downsample\.0\.{_NORM}'
                                        r'|stages\.\d+\.blocks\.\d+\.(gamma'
                                        r'|token_mixer\.dwconv_(hw|w|h)\.(weight|bias)'
                                        rf'|norm\.{_NORM}'
                                        r'|mlp\.fc[12]\.(weight|bias))'
                                        r'|head\.(fc1|norm|fc2)\.(weight|bias))$')


def convert_inceptionnext_timm(state_dict: StateDict,
                               drop_head: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Map timm / timm ``features_only`` / mmpretrain InceptionNeXt keys to the official ones.

    * timm ``inception_next_*``: same names as the official model, copied as they are;
    * timm ``features_only=True`` (``FeatureListNet`` flattens the top-level Sequentials):
      ``stem_0.*`` -> ``stem.0.*``, ``stages_2.*`` -> ``stages.2.*``;
    * mmpretrain classifiers: ``backbone.`` (and ``TIMMBackbone``'s ``timm_model.``) stripped, the
      ``LinearClsHead`` ``head.fc.*`` -> official ``head.fc2.*``, ``data_preprocessor.*`` dropped.

    Args:
        state_dict: an unwrapped state dict (see :func:`unwrap_state_dict`).
        drop_head: drop every ``head.*`` key (backbone-only output).

    Raises:
        ValueError: a key has no official counterpart (listed by name), or two keys map to the
            same official key.
    """
    converted = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        new_key = re.sub(r'^module\.', '', key)
        if new_key.startswith('data_preprocessor.'):
            continue
        new_key = re.sub(r'^head\.fc\.', 'head.fc2.', new_key)
        new_key = re.sub(r'^backbone\.', '', new_key)
        new_key = re.sub(r'^timm_model\.', '', new_key)
        new_key = re.sub(r'^(stem|stages)_(\d+)\.', r'\1.\2.', new_key)
        if drop_head and new_key.startswith('head.'):
            continue
        if not INCEPTIONNEXT_OFFICIAL_KEY.match(new_key):
            unknown.append(key)
            continue
        if new_key in converted:
            raise ValueError(
                f'Two keys map to the official key {new_key!r} (the second is {key!r})')
        converted[new_key] = value
    if unknown:
        raise ValueError(
            f'{len(unknown)} keys have no official InceptionNeXt counterpart: {unknown}')
    return converted


# ------------------------------------------------------------------------------- any backbone


def extract_backbone(checkpoint: dict,
                     prefix: str = 'backbone.',
                     use_ema: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """The tensors under ``prefix`` (stripped) of a full downstream checkpoint, e.g. to start
    another task from a detector's backbone.

    Raises:
        KeyError: no key starts with ``prefix``.
    """
    return OrderedDict(extract_state_dict(checkpoint, prefix=prefix, use_ema=use_ema))


def _fit_to_backbone(state_dict: StateDict, name: str) -> Tuple[StateDict, List[str]]:
    """``state_dict`` as the backbone ``name`` of :func:`mmmoga.create_backbone` loads it (its
    classifier dropped, its kernel size checked), and the backbone keys it lacks.

    Raises:
        ValueError: keys the backbone does not have, or tensors of other shapes (a checkpoint of
            another variant or key layout).
    """
    from mmmoga.models import backbones
    from mmmoga.models.factory import BACKBONES, _check_name
    _check_name(name)
    class_name, arguments = BACKBONES[name]
    with torch.device('meta'):  # the structure only
        model = getattr(backbones, class_name)(**arguments)
    state_dict = model.filter_checkpoint(state_dict)
    own = model.state_dict()
    unexpected = [k for k in state_dict if k not in own]
    if unexpected:
        raise ValueError(
            f'{len(unexpected)} keys of the checkpoint are not in {name} ({class_name}): '
            f'{unexpected[:10]}. It is another variant or another key layout: check the name, or '
            f'convert mmpretrain / timm layouts first (tools/model_converters/'
            f'hornet_mmpretrain_to_official.py, inceptionnext_timm_to_official.py).')
    mismatched = [
        f'{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}' for k, v in state_dict.items()
        if v.shape != own[k].shape
    ]
    if mismatched:
        raise ValueError(f'{len(mismatched)} tensors have other shapes than in {name} '
                         f'(checkpoint vs model): {mismatched[:10]}; it is another variant.')
    return state_dict, [k for k in own if k not in state_dict]


def release_to_safetensors(src: str,
                           dst: str,
                           backbone: Optional[str] = None,
                           use_ema: bool = False,
                           prefix: Optional[str] = None,
                           unsafe_unpickle: bool = False) -> dict:
    """Write the tensors of a checkpoint (an official release or any file
    :func:`load_source` reads) to a ``.safetensors`` file, which loads without unpickling.

    The state dict is unwrapped from ``state_dict`` / ``model`` (``state_dict_ema`` with
    ``use_ema``) and ``module.`` / ``backbone.`` prefixes are stripped (``prefix`` selects another
    sub-module); the official key names are our backbones' names. With ``backbone`` (a
    :func:`mmmoga.list_backbones` name) only that backbone's keys are kept, checked against it.

    Returns:
        ``dict(path, sha256, tensors, missing, source_sha256)``: ``missing`` lists the backbone
        keys the file lacks (with ``backbone``; e.g. HorNet's dense output norms, which no ImageNet
        release holds).
    """
    if not dst.endswith('.safetensors'):
        raise ValueError(f'The output must be named *.safetensors (that is how loaders know not to '
                         f'unpickle it), got {dst}')
    state_dict = extract_state_dict(
        load_source(src, unsafe_unpickle), prefix=prefix, use_ema=use_ema)
    missing: List[str] = []
    if backbone:
        state_dict, missing = _fit_to_backbone(state_dict, backbone)
    # own storage and layout for each tensor: safetensors refuses tensors that share memory
    tensors = OrderedDict(
        (k, v.detach().to('cpu').contiguous().clone()) for k, v in state_dict.items())
    source_sha256 = file_sha256(src) if osp.isfile(src) else ''
    save_file(
        tensors,
        dst,
        metadata=dict(
            format='pt',
            source=osp.basename(src.split('?')[0].rstrip('/')),
            source_sha256=source_sha256,
            backbone=backbone or '',
            converted_by=f'mmmoga {__version__}'))
    return dict(
        path=dst,
        sha256=file_sha256(dst),
        tensors=len(tensors),
        missing=missing,
        source_sha256=source_sha256)
