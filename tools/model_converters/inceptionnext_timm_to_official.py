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

Any other key is an error, listed by name. The conversion itself is
:func:`mmmoga.models.backbones.inception_next.convert_inceptionnext_timm`; this is its command line.

Usage::

    python tools/model_converters/inceptionnext_timm_to_official.py SRC DST [--drop-head] [--ema] \
        [--unsafe-unpickle]
"""
import argparse
import os
import os.path as osp

from mmmoga.converters import load_source as load
from mmmoga.models.backbones.inception_next import convert_inceptionnext_timm
from mmmoga.utils import CheckpointError, atomic_torch_save, extract_state_dict, trust_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Convert a timm/mmpretrain InceptionNeXt checkpoint to the official keys.')
    parser.add_argument('src', help='source checkpoint (path or URL)')
    parser.add_argument('dst', help='output path (a raw state dict, as the official releases)')
    parser.add_argument('--drop-head', action='store_true', help='drop the classifier head')
    parser.add_argument('--ema', action='store_true', help='take state_dict_ema when present')
    parser.add_argument(
        '--unsafe-unpickle',
        action='store_true',
        help='load SRC with a full unpickle (weights_only=False), which runs any '
        'code the file contains; only for a file you trust that pickles more than '
        'tensors')
    args = parser.parse_args()

    if args.unsafe_unpickle:
        trust_checkpoint(args.src)
    try:
        state_dict = convert_inceptionnext_timm(
            extract_state_dict(load(args.src), prefix='', use_ema=args.ema),
            drop_head=args.drop_head)
    except (CheckpointError, ValueError) as err:
        raise SystemExit(f'ERROR: {err}')
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    try:  # atomic: a full disk or a kill never leaves a truncated file
        atomic_torch_save(state_dict, args.dst)
    except CheckpointError as err:
        raise SystemExit(f'ERROR: {err}')
    print(f'Wrote {len(state_dict)} tensors in the official InceptionNeXt layout to {args.dst}')


if __name__ == '__main__':
    main()
