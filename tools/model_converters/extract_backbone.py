#!/usr/bin/env python
"""Extract the backbone weights of a full downstream checkpoint (mmdet / mmseg / mmpose /
mmpretrain, keys ``backbone.*``), e.g. to start another task from a detector's backbone.

The output is ``{'state_dict': backbone_keys}`` and loads through
``init_cfg=dict(type='Pretrained', checkpoint=OUT)`` of the matching mmmoga backbone. (The backbones'
loader also strips ``backbone.`` by itself; this tool makes a small file of it.)

Example:
  python tools/model_converters/extract_backbone.py mask_rcnn_moganet_small_fpn_1x_coco.pth \\
      moganet_small_from_coco.pth
"""
import argparse

import torch

from mmmoga.utils import extract_state_dict, load_checkpoint_file


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('src', help='full checkpoint (path or URL)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--prefix', default='backbone.', help="key prefix to keep and strip")
    parser.add_argument('--use-ema', action='store_true', help='take state_dict_ema if present')
    args = parser.parse_args()
    state_dict = extract_state_dict(load_checkpoint_file(args.src), prefix=args.prefix,
                                    use_ema=args.use_ema)
    torch.save({'state_dict': state_dict}, args.dst)
    print(f'wrote {len(state_dict)} backbone tensors to {args.dst}')


if __name__ == '__main__':
    main()
