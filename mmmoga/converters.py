"""Checkpoint conversions that serve every family (a family's own converters from other
libraries' layouts live in its backbone file: ``convert_hornet_mmpretrain`` in
:mod:`mmmoga.models.backbones.hornet`, ``convert_inceptionnext_timm`` in
:mod:`mmmoga.models.backbones.inception_next`).

Plain functions from a state dict to a state dict, like timm's checkpoint filters; the command lines
in ``tools/model_converters/`` only read, call and write. The official layouts are what mmmoga's
backbones load through ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

* :func:`extract_backbone`: the ``backbone.*`` tensors of a full mmdet / mmseg / mmpose /
  mmpretrain checkpoint;
* :func:`release_to_safetensors`: an official release (any wrapper, ``module.`` /
  ``backbone.`` prefixes) -> a ``.safetensors`` file of our key layout, which loads without
  unpickling anything;
* :func:`load_source` (``.pth`` / ``.bin`` through :func:`mmmoga.utils.load_checkpoint_file`,
  which never runs code from a file, or ``.safetensors``); its tensors, unwrapped, are
  :func:`mmmoga.utils.extract_state_dict` ``(checkpoint, prefix='')``.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from safetensors.torch import save_file

from mmmoga.utils.checkpoint import extract_state_dict, file_sha256, load_checkpoint_file
from mmmoga.version import __version__

__all__ = ['load_source', 'extract_backbone', 'release_to_safetensors']

StateDict = Dict[str, torch.Tensor]


def load_source(path: str, unsafe_unpickle: bool = False) -> dict:
    """Read a checkpoint to convert (path or URL) through
    :func:`mmmoga.utils.load_checkpoint_file`: ``.safetensors`` with safetensors, anything else
    with ``weights_only=True`` (``unsafe_unpickle`` for a trusted file that needs more)."""
    return load_checkpoint_file(path, unsafe_unpickle=unsafe_unpickle)


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
    from mmmoga.models.factory import BACKBONES, check_name
    check_name(name)
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
