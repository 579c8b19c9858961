"""Convert an InceptionNeXt checkpoint from timm / mmpretrain layouts to the official key layout.

The official layout (sail-sg/inceptionnext, a raw state dict) is what ``mmmoga``'s
``InceptionNeXt`` loads through ``init_cfg=dict(type='Pretrained', checkpoint=...)``::

    stem.{0,1}.*  stages.{i}.downsample.{0,1}.*  stages.{i}.blocks.{j}.*  head.{fc1,norm,fc2}.*

Accepted inputs (``.pth``/``.bin``, or ``.safetensors`` when the ``safetensors`` package is
installed; ``state_dict``/``model``/``state_dict_ema`` wrappers and ``module.`` are unwrapped):

* timm ``inception_next_*`` (``timm.create_model``; hub ``pytorch_model.bin`` or
  ``model.safetensors``): same parameter names as the official model; copied as they are;
* timm ``features_only=True`` models, whose ``FeatureListNet`` flattens the top-level Sequentials:
  ``stem_0.*`` -> ``stem.0.*``, ``stages_2.*`` -> ``stages.2.*`` (no head);
* mmpretrain classifiers: ``backbone.`` (and ``TIMMBackbone``'s ``timm_model.``) is stripped, the
  ``LinearClsHead`` ``head.fc.*`` becomes the official ``head.fc2.*`` (this is also the layout of
  ``mmmoga`` ``InceptionNeXt(with_cls_head=True)`` + ``LinearClsHead``), ``data_preprocessor.*``
  is dropped.

Any other key is an error, listed by name.

Usage::

    python tools/model_converters/inceptionnext_timm_to_official.py SRC DST [--drop-head] [--ema]
"""
import argparse
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict

import torch

_NORM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
OFFICIAL_KEY = re.compile(
    r'^(stem\.0\.(weight|bias)'
    rf'|stem\.1\.{_NORM}'
    r'|stages\.\d+\.downsample\.1\.(weight|bias)'
    rf'|stages\.\d+\.downsample\.0\.{_NORM}'
    r'|stages\.\d+\.blocks\.\d+\.(gamma'
    r'|token_mixer\.dwconv_(hw|w|h)\.(weight|bias)'
    rf'|norm\.{_NORM}'
    r'|mlp\.fc[12]\.(weight|bias))'
    r'|head\.(fc1|norm|fc2)\.(weight|bias))$')


def unwrap(checkpoint: dict, use_ema: bool = False) -> Dict[str, torch.Tensor]:
    """Return the tensors of a (possibly wrapped) checkpoint."""
    wrappers = ('state_dict_ema', 'state_dict', 'model') if use_ema else ('state_dict', 'model')
    for key in wrappers:
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    return OrderedDict((k, v) for k, v in checkpoint.items() if isinstance(v, torch.Tensor))


def convert_inceptionnext_timm(state_dict: Dict[str, torch.Tensor],
                               drop_head: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Map timm / timm ``features_only`` / mmpretrain keys to the official InceptionNeXt keys.

    Args:
        state_dict: an unwrapped state dict (see :func:`unwrap`).
        drop_head: drop every ``head.*`` key (backbone-only output).

    Raises:
        ValueError: a key has no official counterpart, or two keys map to the same official key.
    """
    converted = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        new_key = re.sub(r'^module\.', '', key)
        if new_key.startswith('data_preprocessor.'):
            continue
        # the top-level linear head of an mmpretrain classifier is the official head.fc2
        new_key = re.sub(r'^head\.fc\.', 'head.fc2.', new_key)
        new_key = re.sub(r'^backbone\.', '', new_key)
        new_key = re.sub(r'^timm_model\.', '', new_key)
        # timm FeatureListNet(flatten_sequential=True) names
        new_key = re.sub(r'^(stem|stages)_(\d+)\.', r'\1.\2.', new_key)
        if drop_head and new_key.startswith('head.'):
            continue
        if not OFFICIAL_KEY.match(new_key):
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


def load(path: str) -> dict:
    if path.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError as err:
            raise ImportError('Reading .safetensors needs `pip install safetensors`') from err
        return load_file(path, device='cpu')
    from mmmoga.utils.checkpoint import load_checkpoint_file
    return load_checkpoint_file(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Convert a timm/mmpretrain InceptionNeXt checkpoint to the official keys.')
    parser.add_argument('src', help='source checkpoint (path or URL)')
    parser.add_argument('dst', help='output path (a raw state dict, as the official releases)')
    parser.add_argument('--drop-head', action='store_true', help='drop the classifier head')
    parser.add_argument('--ema', action='store_true', help='take state_dict_ema when present')
    args = parser.parse_args()

    state_dict = convert_inceptionnext_timm(
        unwrap(load(args.src), use_ema=args.ema), drop_head=args.drop_head)
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    torch.save(state_dict, args.dst)
    print(f'Wrote {len(state_dict)} tensors in the official InceptionNeXt layout to {args.dst}')


if __name__ == '__main__':
    main()
