"""Convert an mmpretrain HorNet checkpoint to the official HorNet key layout.

The official layout (raoyongming/HorNet ``hornet.py``) is what ``mmmoga``'s ``HorNet`` loads through
``init_cfg=dict(type='Pretrained', checkpoint=...)``::

    downsample_layers.{i}.{0,1}.*   stages.{i}.{j}.{norm1,gnconv.*,norm2,pwconv1,pwconv2}.*
    stages.{i}.{j}.gamma1 / gamma2  norm.*  head.*           (classification)
    norm{0-3}.*                                               (dense outputs)

mmpretrain's ``HorNet`` (``mmpretrain/models/backbones/hornet.py``, its ``hornet2mmpretrain.py``
converter) renames some of them; this script undoes that:

* ``backbone.`` is stripped (``module.`` too);
* ``gnconv.projs.{k}`` -> ``gnconv.pws.{k}``;
* ``gamma1.weight`` / ``gamma2.weight`` (``LayerScale`` modules) -> bare ``gamma1`` / ``gamma2``;
* classifier layout (``--layout cls``): the final norm on the pooled feature ``norm3.*`` ->
  ``norm.*`` and the ``LinearClsHead`` ``head.fc.*`` -> ``head.*``. Dense layout (``--layout dense``):
  ``norm{i}.*`` stay the dense model's output norms. ``auto`` (default) picks ``cls`` when the only
  output norm is ``norm3`` (what ``gap_before_final_norm=True`` builds), ``dense`` otherwise;
* ``data_preprocessor.*`` and, in a detector/segmentor checkpoint, every key outside ``backbone.``
  (neck, heads) are dropped and counted; ``--drop-head`` also drops the classifier.

A backbone key without an official counterpart is an error, listed by name. The output is saved as
``{'model': state_dict}``, the wrapper of the official releases (both mmmoga and the official
loaders also accept a bare state dict).

Usage::

    python tools/model_converters/hornet_mmpretrain_to_official.py SRC DST \
        [--layout {auto,cls,dense}] [--drop-head]
"""
import argparse
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

OFFICIAL_KEY = re.compile(
    r'^(downsample_layers\.\d+\.[01]\.(weight|bias)'
    r'|stages\.\d+\.\d+\.(gamma[12]'
    r'|(norm[12]|pwconv[12])\.(weight|bias)'
    r'|gnconv\.(proj_in|proj_out|pws\.\d+)\.(weight|bias)'
    r'|gnconv\.dwconv\.(weight|bias|complex_weight|dw\.weight|(pre|post)_norm\.(weight|bias)))'
    r'|norm\d?\.(weight|bias)'
    r'|head\.(weight|bias))$')
LAYOUTS = ('auto', 'cls', 'dense')


def unwrap(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """Return the tensors of a checkpoint, unwrapping ``state_dict`` / ``model``."""
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    return OrderedDict((k, v) for k, v in checkpoint.items() if isinstance(v, torch.Tensor))


def convert_hornet_mmpretrain(
        state_dict: Dict[str, torch.Tensor],
        layout: str = 'auto',
        drop_head: bool = False) -> Tuple['OrderedDict[str, torch.Tensor]', list]:
    """Map mmpretrain HorNet keys to the official ones.

    Args:
        state_dict: an unwrapped state dict (see :func:`unwrap`).
        layout: ``'cls'`` (``norm3`` is the final classification norm, ``head.fc`` the head),
            ``'dense'`` (``norm{i}`` are output norms) or ``'auto'``.
        drop_head: drop the classifier (backbone-only output).

    Returns:
        The converted state dict and the list of source keys that were dropped.

    Raises:
        ValueError: an unknown ``layout``, a backbone key with no official counterpart, or two keys
            that map to the same official key.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'Unknown layout {layout!r}; valid choices: {list(LAYOUTS)}')
    state_dict = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
    has_backbone_prefix = any(k.startswith('backbone.') for k in state_dict)
    if layout == 'auto':
        out_norms = {m.group(1) for k in state_dict
                     for m in [re.match(r'^(?:backbone\.)?norm(\d)\.', k)] if m}
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
        if drop_head and new_key.startswith('head.'):
            dropped.append(key)
            continue
        if new_key.startswith('data_preprocessor.'):
            dropped.append(key)
            continue
        if not OFFICIAL_KEY.match(new_key):
            unknown.append(key)
            continue
        if new_key in converted:
            raise ValueError(
                f'Two keys map to the official key {new_key!r} (the second is {key!r})')
        converted[new_key] = value
    if unknown:
        raise ValueError(f'{len(unknown)} keys have no official HorNet counterpart: {unknown}')
    return converted, dropped


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Convert an mmpretrain HorNet checkpoint to the official HorNet keys.')
    parser.add_argument('src', help='source checkpoint (path or URL)')
    parser.add_argument('dst', help="output path (saved as {'model': state_dict})")
    parser.add_argument(
        '--layout', choices=LAYOUTS, default='auto',
        help='cls: norm3 is the final classification norm (-> norm) and head.fc the head; '
        'dense: norm0-3 are output norms; auto: cls when norm3 is the only output norm')
    parser.add_argument('--drop-head', action='store_true', help='drop the classifier head')
    args = parser.parse_args()

    from mmmoga.utils.checkpoint import load_checkpoint_file
    state_dict, dropped = convert_hornet_mmpretrain(
        unwrap(load_checkpoint_file(args.src)), layout=args.layout, drop_head=args.drop_head)
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    torch.save({'model': state_dict}, args.dst)
    if dropped:
        print(f'Dropped {len(dropped)} keys (outside the HorNet backbone, or the head with '
              f'--drop-head); first: {dropped[:5]}')
    print(f'Wrote {len(state_dict)} tensors in the official HorNet layout to {args.dst}')


if __name__ == '__main__':
    main()
