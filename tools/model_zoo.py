#!/usr/bin/env python
"""The model zoo (metafiles/*.yml, imported by model-index.yml): validate, measure, render README.

Examples:
  python tools/model_zoo.py check                      # schema + every config has one entry
  python tools/model_zoo.py measure configs/mask_rcnn_moganet_s.py   # params + FLOPs into its entry
  python tools/model_zoo.py measure --missing          # every entry that lacks Parameters/FLOPs
  python tools/model_zoo.py measure --all --params-only
  python tools/model_zoo.py readme                     # rewrite README.md's model-zoo region
  python tools/model_zoo.py readme --check             # exit 1 with a diff if README differs

FLOPs counting runs full-size models on the CPU (tens of seconds each); the library code is
``mmmoga.model_zoo`` and ``mmmoga.utils.complexity`` (shared with tools/analysis/get_flops.py).
"""
import argparse
import logging
import os.path as osp
import sys

from mmmoga import model_zoo

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))  # the checkout (or mmmoga/.mim)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('--root', default=ROOT, help='repository root (default: this checkout)')
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('check', help='validate the metafiles and their coverage of configs/')
    measure = sub.add_parser('measure', help='write measured Parameters/FLOPs into entries')
    measure.add_argument('configs', nargs='*', help='config paths (or entry names)')
    measure.add_argument('--all', action='store_true', help='every entry')
    measure.add_argument(
        '--missing',
        action='store_true',
        help='entries without Parameters, or without FLOPs (non-toy)')
    measure.add_argument(
        '--params-only',
        action='store_true',
        help='parameters only (meta device, seconds); FLOPs stay as they are')
    readme = sub.add_parser('readme', help="regenerate README.md's model-zoo tables")
    readme.add_argument(
        '--check',
        action='store_true',
        help='do not write; exit 1 and print the diff if README.md differs')
    return parser.parse_args()


def select(entries, args):
    if args.all:
        return entries
    if args.missing:

        def lacks_flops(meta):
            counted = meta.get('FLOPs', model_zoo.FLOPS_NOT_MEASURED)
            return counted == model_zoo.FLOPS_NOT_MEASURED and not meta.get('Measured')

        return [
            e for e in entries if 'Parameters' not in e['Metadata'] or (
                not args.params_only and lacks_flops(e['Metadata']))
        ]
    if not args.configs:
        sys.exit('ERROR: name configs to measure, or pass --all / --missing')
    wanted = {osp.splitext(osp.basename(c))[0] for c in args.configs}
    chosen = [e for e in entries if e['Name'] in wanted]
    unknown = wanted - {e['Name'] for e in chosen}
    if unknown:
        sys.exit(f'ERROR: no metafile entry for {", ".join(sorted(unknown))}: add one first '
                 '(see mmmoga/model_zoo.py for the schema)')
    return chosen


def main():
    args = parse_args()
    if args.command == 'check':
        errors = model_zoo.validate(args.root)
        for error in errors:
            print(f'ERROR: {error}')
        entries = model_zoo.load_entries(args.root)
        print(f'{len(entries)} entries in {len(model_zoo.metafile_paths(args.root))} metafiles: '
              f'{"OK" if not errors else f"{len(errors)} problems"}')
        sys.exit(1 if errors else 0)
    if args.command == 'measure':
        from mmengine.logging import MMLogger

        import mmmoga  # noqa: F401  (registers the models)
        MMLogger.get_instance('mmengine').setLevel(logging.ERROR)  # the counter's op warnings
        for entry in select(model_zoo.load_entries(args.root), args):
            values = model_zoo.measure_entry(entry, args.root, flops=not args.params_only)
            model_zoo.write_measured(entry['_metafile'], entry['Name'], values)
            shown = ', '.join(f'{k} {v:,}' for k, v in values.items())
            print(f'{entry["Name"]}: {shown} (at {entry["Metadata"]["Input Size"]})', flush=True)
        return
    errors = model_zoo.validate(args.root)
    if errors:  # the tables are rendered anyway (missing figures show as '-'); the tests fail
        print(
            f'WARNING: {len(errors)} metafile problems; see `python tools/model_zoo.py check`',
            file=sys.stderr)
    try:
        region = model_zoo.render_tables(args.root)
    except (KeyError, TypeError) as err:
        sys.exit(f'ERROR: cannot render the tables ({err!r}); fix the metafiles first:\n  ' +
                 '\n  '.join(errors))
    if args.check:
        diff = model_zoo.readme_diff(args.root, region=region)
        if diff:
            sys.stdout.write(diff)
            sys.exit('README.md differs from the metafiles: run `python tools/model_zoo.py '
                     'readme`')
        print('README.md model-zoo tables match the metafiles')
    else:
        changed = model_zoo.update_readme(args.root, region=region)
        print('README.md updated' if changed else 'README.md already up to date')


if __name__ == '__main__':
    main()
