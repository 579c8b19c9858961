"""Check the rules of the package's imports (``make lint`` runs it): the runtime never imports
``mmmoga.devtools``, and no private name crosses a module (see
:mod:`mmmoga.devtools.import_check`). First a control: violations planted in a tiny tree must all
be found.

    python tools/misc/check_imports.py
"""
import os.path as osp
import sys

from mmmoga.devtools.import_check import check_tree, control_violations

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main():
    missed = control_violations()
    if missed:
        print('check_imports: the control failed, the checker is broken:', *missed, sep='\n  ')
        sys.exit(2)
    problems = check_tree(ROOT)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(f'check_imports: {len(problems)} import(s) break the rules (above)')
    print('check_imports: the runtime imports nothing of mmmoga.devtools and no private name '
          'crosses a module (control: every planted violation found)')


if __name__ == '__main__':
    main()
