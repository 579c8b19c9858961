"""The headline figures (:mod:`mmmoga.devtools.figures`): ``render`` writes docs/figures.md from
the benchmarks' JSON in docs/figures/; ``check`` (``make lint`` runs it) fails when the page is
stale or the README does not quote a figure as the page states it.

    python tools/misc/figures.py render
    python tools/misc/figures.py check
"""
import argparse
import os.path as osp
import sys

from mmmoga.devtools import figures

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('action', choices=('render', 'check'))
    args = parser.parse_args(argv)
    if args.action == 'render':
        try:
            page = figures.render_page(ROOT)
        except figures.FigureError as error:
            sys.exit(f'figures: {error}')
        with open(osp.join(ROOT, figures.PAGE), 'w', encoding='utf-8') as f:
            f.write(page)
        print(f'figures: wrote {figures.PAGE} ({len(figures.FIGURES)} figures)')
        return
    problems = figures.check(ROOT)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(f'figures: {len(problems)} problem(s) (above)')
    print(f'figures: {figures.PAGE} is what docs/figures/*.json give, and the README quotes '
          f'its {len(figures.FIGURES)} figures')


if __name__ == '__main__':
    main()
