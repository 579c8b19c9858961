"""``python -m mmmoga``: mmmoga's version and the OpenMMLab stack it finds, module by module:
each library's version and the distribution that provides it, upstream or the ``onedl-*`` fork
(:mod:`mmmoga.stack`). Exits with 1 when a library is one mmmoga does not work with, or an
upstream package is installed beside its fork."""
import os.path as osp
import sys

from mmmoga.stack import stack_report
from mmmoga.version import __version__


def main() -> int:
    """Print mmmoga's version and the OpenMMLab stack found; 1 when a library is one mmmoga does
    not work with, or an upstream package is installed beside its fork."""
    print(f'mmmoga {__version__} ({osp.dirname(osp.abspath(__file__))})')
    rows = stack_report()
    for row in rows:
        found = f'{row["version"]} ({row["distribution"]})' if row['version'] else 'not installed'
        print(f'{row["module"]:<11} {found}')
    problems = [row[kind] for row in rows for kind in ('error', 'warning') if row[kind]]
    for problem in problems:
        print(f'problem: {problem}')
    if not problems:
        print('no known problem')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
