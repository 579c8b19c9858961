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
  ``norm.*`` and the ``LinearClsHead`` ``head.fc.*`` -> ``head.*``. Dense layout
  (``--layout dense``): ``norm{i}.*`` stay the dense model's output norms. ``auto`` (default)
  picks ``cls`` when the only output norm is ``norm3`` (what mmpretrain's
  ``gap_before_final_norm=True`` builds), ``dense`` otherwise;
* ``data_preprocessor.*`` and, in a detector/segmentor checkpoint, every key outside ``backbone.``
  (neck, heads) are dropped and counted; ``--drop-head`` also drops the classifier.

A backbone key without an official counterpart is an error, listed by name. The output is saved
as ``{'model': state_dict}``, the wrapper of the official releases (both mmmoga and the official
loaders also accept a bare state dict). The conversion itself is
:func:`mmmoga.models.backbones.hornet.convert_hornet_mmpretrain`; this is its command line.

Usage::

    python tools/model_converters/hornet_mmpretrain_to_official.py SRC DST \
        [--layout {auto,cls,dense}] [--drop-head] [--unsafe-unpickle]
"""
import argparse
import os
import os.path as osp

from mmmoga.converters import load_source
from mmmoga.models.backbones.hornet import HORNET_LAYOUTS, convert_hornet_mmpretrain
from mmmoga.utils import CheckpointError, atomic_torch_save, extract_state_dict, trust_checkpoint

LAYOUTS = HORNET_LAYOUTS


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Convert an mmpretrain HorNet checkpoint to the official HorNet keys.')
    parser.add_argument('src', help='source checkpoint (path or URL)')
    parser.add_argument('dst', help="output path (saved as {'model': state_dict})")
    parser.add_argument(
        '--layout',
        choices=LAYOUTS,
        default='auto',
        help='cls: norm3 is the final classification norm (-> norm) and head.fc the head; '
        'dense: norm0-3 are output norms; auto: cls when norm3 is the only output norm')
    parser.add_argument('--drop-head', action='store_true', help='drop the classifier head')
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
        state_dict, dropped = convert_hornet_mmpretrain(
            extract_state_dict(load_source(args.src), prefix=''),
            layout=args.layout,
            drop_head=args.drop_head)
    except (CheckpointError, ValueError) as err:
        raise SystemExit(f'ERROR: {err}')
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    try:  # atomic: a full disk or a kill never leaves a truncated file
        atomic_torch_save({'model': state_dict}, args.dst)
    except CheckpointError as err:
        raise SystemExit(f'ERROR: {err}')
    if dropped:
        print(f'Dropped {len(dropped)} keys (outside the HorNet backbone, or the head with '
              f'--drop-head); first: {dropped[:5]}')
    print(f'Wrote {len(state_dict)} tensors in the official HorNet layout to {args.dst}')


if __name__ == '__main__':
    main()
