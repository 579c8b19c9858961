#!/usr/bin/env python
"""Plot training curves (loss, metrics) of a run from mmengine's vis_data/scalars.json.

The argument is a config (its work dir: ``work_dirs/<config name>`` unless the config sets
``work_dir``), a work dir, or a scalars.json file; the newest run that recorded every key is used.

Examples:
  python tools/analysis/plot_logs.py configs/mask_rcnn_moganet_xt_toy.py \\
      --keys loss coco/bbox_mAP coco/segm_mAP --out curves.png
  python tools/analysis/plot_logs.py work_dirs/upernet_moganet_s --keys loss mIoU --out miou.png
  python tools/analysis/plot_logs.py work_dirs/mask_rcnn_moganet_s --list    # the recorded keys
"""
import argparse
import os.path as osp
import sys

from mmmoga.devtools.log_curves import find_scalar_files, load_scalars, plot_curves


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('run', help='config file, work dir or scalars.json')
    parser.add_argument(
        '--keys',
        nargs='+',
        default=['loss'],
        help='scalars to plot, one panel each (default: loss)')
    parser.add_argument('--out', default='curves.png', help='output PNG (default: curves.png)')
    parser.add_argument('--title', help='figure title (default: the scalars.json path)')
    parser.add_argument('--list', action='store_true', help='print the keys each run recorded')
    return parser.parse_args()


def work_dir_of(path: str) -> str:
    if not path.endswith('.py'):
        return path
    from mmengine.config import Config
    cfg = Config.fromfile(path)
    return cfg.get('work_dir') or osp.join('work_dirs', osp.splitext(osp.basename(path))[0])


def main():
    args = parse_args()
    try:
        run = work_dir_of(args.run)
        if args.list:
            for file in find_scalar_files(run):
                keys = sorted({k for r in load_scalars(file) for k in r})
                print(f'{file}: {" ".join(keys)}')
            return
        file = plot_curves(run, args.keys, args.out, title=args.title)
    except (FileNotFoundError, KeyError) as err:
        sys.exit(f'ERROR: {err.args[0] if err.args else err}')
    print(f'{", ".join(args.keys)} of {file} -> {args.out}')


if __name__ == '__main__':
    main()
