#!/usr/bin/env python
"""Write the built-in toy datasets (real COCO / ADE20K / COCO-keypoints / mmpretrain folder layouts)
under --out."""
import argparse
import os.path as osp

from mmmoga.task_libraries import require_task_part

datasets = require_task_part('mmmoga.datasets')  # OpenCV and mmcv: says which is missing
MAKERS = {
    'coco': datasets.make_coco_instances,
    'ade20k': datasets.make_ade20k,
    'coco_pose': datasets.make_coco_keypoints,
    'cls': datasets.make_shape_classification
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data/toy', help='output folder (default: data/toy)')
    parser.add_argument(
        '--tasks',
        nargs='+',
        default=list(MAKERS),
        choices=list(MAKERS),
        help='which datasets to write (default: all)')
    parser.add_argument('--force', action='store_true', help='rewrite datasets that exist')
    args = parser.parse_args()
    for task in args.tasks:
        root = osp.join(args.out, task)
        if osp.isdir(root) and not args.force:
            print(f'{root} exists, kept (use --force to rewrite)')
            continue
        MAKERS[task](root)
        print(f'wrote {root}')


if __name__ == '__main__':
    main()
