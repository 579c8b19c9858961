"""Check (or, with --update, record) the digest of every resolved config under configs/.

    python tools/misc/config_digests.py            # lists the configs whose settings changed
    python tools/misc/config_digests.py --update   # records the current settings as intended
    python tools/misc/config_digests.py --show configs/mask_rcnn_moganet_s.py > a.json

The suite runs the same check (tests/test_configs.py), so a refactor of the config files that
changes any resolved setting fails there.
"""
import argparse
import glob
import json
import os.path as osp
import sys

from mmengine.config import Config

from mmmoga.utils.config_digest import (DIGEST_FILE, read_digests, resolved_config_digest,
                                        resolved_config_json)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--update', action='store_true', help=f'rewrite {DIGEST_FILE}')
    mode.add_argument('--show', metavar='CONFIG', help='print one resolved config as JSON')
    args = parser.parse_args()
    if args.show:
        print(resolved_config_json(Config.fromfile(args.show)))
        return 0
    paths = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')))
    digests = {osp.basename(p): resolved_config_digest(Config.fromfile(p)) for p in paths}
    if args.update:
        with open(osp.join(ROOT, DIGEST_FILE), 'w', encoding='utf-8') as f:
            json.dump(digests, f, indent=1, sort_keys=True)
            f.write('\n')
        print(f'{len(digests)} digests written to {DIGEST_FILE}')
        return 0
    recorded = read_digests(ROOT)
    changed = sorted(name for name in digests.keys() | recorded.keys()
                     if digests.get(name) != recorded.get(name))
    for name in changed:
        print(f'changed: {name}')
    print(f'{len(digests)} configs, {len(changed)} changed against {DIGEST_FILE}')
    return 1 if changed else 0


if __name__ == '__main__':
    sys.exit(main())
