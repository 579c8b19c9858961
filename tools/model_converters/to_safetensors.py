#!/usr/bin/env python
"""Convert an official release (or any checkpoint of our backbones) to a .safetensors file.

The input is read without running code from it (``weights_only=True``; ``--unsafe-unpickle`` for a
trusted file that needs more): ``.pth`` / ``.pth.tar`` / ``.bin`` / ``.safetensors``, a path or a
URL, wrapped in ``state_dict`` / ``model`` / ``state_dict_ema`` or not, with ``module.`` /
``backbone.`` prefixes or not. The output holds the tensors under our key names (the official
ones) and loads anywhere a checkpoint does, without unpickling:
``mmmoga.create_backbone(NAME, pretrained='x.safetensors')`` or
``init_cfg=dict(type='Pretrained', checkpoint='x.safetensors')``. Its sha256 is printed (put it
into the ``SHA256`` of its record under a metafile's ``Releases`` when you host the file). The
conversion is :func:`mmmoga.converters.release_to_safetensors`; this is its command line.

Example:
  python tools/model_converters/to_safetensors.py moganet_small_sz224_8xbs128_ep300.pth.tar \\
      moganet_s.safetensors --backbone moganet_s
"""
import argparse

from mmmoga.converters import release_to_safetensors
from mmmoga.models import list_backbones
from mmmoga.utils import CheckpointError, trust_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('src', help='checkpoint to convert (path or URL)')
    parser.add_argument('dst', help='output file, *.safetensors')
    parser.add_argument(
        '--backbone',
        choices=list_backbones(),
        metavar='NAME',
        help='keep only the keys of this backbone (a mmmoga.list_backbones() name, e.g. '
        'moganet_s) and check them against it')
    parser.add_argument('--use-ema', action='store_true', help='take state_dict_ema if present')
    parser.add_argument(
        '--prefix', help="key prefix to keep and strip (default: 'backbone.' where present)")
    parser.add_argument(
        '--unsafe-unpickle',
        action='store_true',
        help='load SRC with a full unpickle (weights_only=False), which runs any code the file '
        'contains; only for a file you trust that pickles more than tensors')
    args = parser.parse_args()
    if args.unsafe_unpickle:
        trust_checkpoint(args.src)
    try:
        report = release_to_safetensors(
            args.src,
            args.dst,
            backbone=args.backbone,
            use_ema=args.use_ema,
            prefix=args.prefix,
            unsafe_unpickle=args.unsafe_unpickle)
    except (CheckpointError, KeyError, ValueError) as err:
        raise SystemExit(f'ERROR: {err}')
    print(f'wrote {report["tensors"]} tensors to {report["path"]}')
    if report['missing']:
        print(f'not in the source (fresh when loaded): {report["missing"]}')
    print(f'sha256 {report["sha256"]}')


if __name__ == '__main__':
    main()
