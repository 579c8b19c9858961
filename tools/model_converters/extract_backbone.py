#!/usr/bin/env python
"""Extract the backbone weights of a full downstream checkpoint (mmdet / mmseg / mmpose /
mmpretrain, keys ``backbone.*``), e.g. to start another task from a detector's backbone.

The output is ``{'state_dict': backbone_keys}`` and loads through
``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` of the matching mmmoga backbone. (The
backbones' loader also strips ``backbone.`` by itself; this tool makes a small file of it.) The
extraction is :func:`mmmoga.converters.extract_backbone`; this is its command line.

Example:
  python tools/model_converters/extract_backbone.py mask_rcnn_moganet_small_fpn_1x_coco.pth \\
      moganet_small_from_coco.pth
"""
import argparse

from mmmoga.converters import extract_backbone, load_source
from mmmoga.utils import CheckpointError, atomic_torch_save, trust_checkpoint


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('src', help='full checkpoint (path or URL)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--prefix', default='backbone.', help="key prefix to keep and strip")
    parser.add_argument('--use-ema', action='store_true', help='take state_dict_ema if present')
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
        state_dict = extract_backbone(
            load_source(args.src), prefix=args.prefix, use_ema=args.use_ema)
    except (CheckpointError, KeyError) as err:
        raise SystemExit(f'ERROR: {err}')
    try:  # atomic: a full disk or a kill never leaves a truncated file
        atomic_torch_save({'state_dict': state_dict}, args.dst)
    except CheckpointError as err:
        raise SystemExit(f'ERROR: {err}')
    print(f'wrote {len(state_dict)} backbone tensors to {args.dst}')


if __name__ == '__main__':
    main()
