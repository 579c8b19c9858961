"""The import rules of ``make lint`` (:mod:`mmmoga.devtools.import_check`): the tree keeps them,
and the checker finds each kind of violation (its control)."""
import os.path as osp

from mmmoga.devtools import import_check

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_the_tree_keeps_the_import_rules():
    assert import_check.check_tree(ROOT) == []


def test_the_checker_finds_every_planted_violation():
    assert import_check.control_violations() == []


def test_a_runtime_import_of_the_developer_side_is_found(tmp_path):
    for name, source in {
            'mmmoga/__init__.py': '',
            'mmmoga/devtools/__init__.py': '',
            'mmmoga/devtools/model_zoo.py': '',
            'mmmoga/utils/__init__.py': '',
            'mmmoga/utils/download.py': 'from ..devtools.model_zoo import find_release\n',
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    problems = import_check.check_tree(str(tmp_path), ('mmmoga', ))
    assert problems == [
        'mmmoga/utils/download.py:1: the runtime module mmmoga.utils.download imports the '
        'developer side (mmmoga.devtools.model_zoo); move what it needs out of mmmoga.devtools'
    ]
    # control: the same import from the developer side is allowed
    (tmp_path / 'mmmoga/devtools/pages.py').write_text('from . import model_zoo\n')
    assert len(import_check.check_tree(str(tmp_path), ('mmmoga', ))) == 1
