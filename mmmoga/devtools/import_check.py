"""The rules the package's imports keep, checked from the source (``python
tools/misc/check_imports.py``, part of ``make lint``):

1. **The runtime never imports the developer side.** No module of ``mmmoga`` outside
   ``mmmoga/devtools/`` imports ``mmmoga.devtools`` (at the top or inside a function, absolute or
   relative).
2. **No private name crosses a module.** No module of ``mmmoga`` or ``tools/`` imports a name that
   starts with one underscore from another module of ``mmmoga`` (``from mmmoga.x import _y``), nor
   reads one from an imported ``mmmoga`` module (``x._y``). A name others need is public, with a
   docstring.

:func:`check_tree` returns the violations of a tree; :func:`control_violations` plants one of each
kind in a temporary copy of a tiny tree and returns those it failed to find (none, when the
checker works).
"""
import ast
import os
import os.path as osp
import tempfile
from typing import Dict, Iterator, List, Optional, Tuple

PACKAGE = 'mmmoga'
DEVTOOLS = f'{PACKAGE}.devtools'


def _module_name(root: str, path: str) -> str:
    parts = osp.relpath(path, root)[:-len('.py')].split(os.sep)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _python_files(root: str, folder: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(osp.join(root, folder)):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.') and d != '__pycache__')
        for name in sorted(filenames):
            if name.endswith('.py'):
                yield osp.join(dirpath, name)


def _is_private(name: str) -> bool:
    return name.startswith('_') and not name.startswith('__')


def _is_first_party(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + '.')


def _is_module(root: str, module: str) -> bool:
    path = osp.join(root, *module.split('.'))
    return osp.isfile(path + '.py') or osp.isfile(osp.join(path, '__init__.py'))


def _absolute(module: str, is_package: bool, level: int, name: Optional[str]) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name or ''
    parts = module.split('.') if is_package else module.split('.')[:-1]
    base = parts[:len(parts) - (level - 1)]
    return '.'.join(base + ([name] if name else []))


def _imports(tree: ast.AST, module: str,
             is_package: bool) -> Iterator[Tuple[int, str, str, str, str]]:
    """(line, imported module, imported name or '', the local name bound, what it is bound to)
    of every import, at the top or inside a function."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split('.')[0]
                yield (node.lineno, alias.name, '', alias.asname
                       or top, alias.name if alias.asname else top)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, is_package, node.level, node.module)
            for alias in node.names:
                yield (node.lineno, source, alias.name, alias.asname
                       or alias.name, f'{source}.{alias.name}')


def check_file(root: str, path: str) -> List[str]:
    """The violations of the module at ``path`` (under ``root``), one line each."""
    module = _module_name(root, path)
    is_package = osp.basename(path) == '__init__.py'
    runtime = _is_first_party(module) and not (module == DEVTOOLS
                                               or module.startswith(DEVTOOLS + '.'))
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    where = osp.relpath(path, root)
    problems = []
    modules: Dict[str, str] = {}  # local name -> the other first-party module it holds
    for line, source, name, local, bound in _imports(tree, module, is_package):
        target = bound if name and _is_module(root, bound) else source
        if runtime and (target == DEVTOOLS or target.startswith(DEVTOOLS + '.')):
            problems.append(f'{where}:{line}: the runtime module {module} imports the developer '
                            f'side ({target}); move what it needs out of {DEVTOOLS}')
        if _is_first_party(source) and _is_private(name) and source != module:
            problems.append(f'{where}:{line}: imports the private name {name} of {source}; make '
                            f'it public (and documented) there')
        if _is_first_party(bound) and bound != module and _is_module(root, bound):
            modules[local] = bound
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _is_private(node.attr)
                and isinstance(node.value, ast.Name) and node.value.id in modules):
            problems.append(f'{where}:{node.lineno}: reads the private name {node.attr} of '
                            f'{modules[node.value.id]}; make it public (and documented) there')
    return problems


def check_tree(root: str, folders: Tuple[str, ...] = (PACKAGE, 'tools')) -> List[str]:
    """Every violation of the Python files under ``folders`` of ``root``."""
    problems = []
    for folder in folders:
        for path in _python_files(root, folder):
            problems += check_file(root, path)
    return problems


#: the planted violations of the control: file -> source (each line one violation)
CONTROL_TREE = {
    f'{PACKAGE}/__init__.py': '',
    f'{PACKAGE}/devtools/__init__.py': 'TOOL = 1\n',
    f'{PACKAGE}/devtools/report.py': 'from mmmoga.models.layer import _helper  # allowed?\n',
    f'{PACKAGE}/models/__init__.py': '',
    f'{PACKAGE}/models/layer.py': 'def _helper():\n    pass\n',
    f'{PACKAGE}/models/top.py': 'from mmmoga.devtools import TOOL\n',
    f'{PACKAGE}/models/inner.py': 'def f():\n    from ..devtools import report\n',
    f'{PACKAGE}/models/attr.py': 'from mmmoga.models import layer\nlayer._helper()\n',
    f'{PACKAGE}/models/alias.py': 'import mmmoga.models.layer as L\nL._helper()\n',
    f'{PACKAGE}/models/clean.py': 'from . import layer\nfrom .layer import __doc__\nlayer.x = 1\n',
}
#: what the checker must find in :data:`CONTROL_TREE`: (file, what the message says)
CONTROL_EXPECTED = (
    (f'{PACKAGE}/devtools/report.py', 'private name _helper'),
    (f'{PACKAGE}/models/top.py', 'imports the developer side'),
    (f'{PACKAGE}/models/inner.py', 'imports the developer side'),
    (f'{PACKAGE}/models/attr.py', 'private name _helper'),
    (f'{PACKAGE}/models/alias.py', 'private name _helper'),
)


def control_violations() -> List[str]:
    """The planted violations the checker missed, and anything it reported in the clean module
    (empty when it works)."""
    with tempfile.TemporaryDirectory() as root:
        for name, source in CONTROL_TREE.items():
            os.makedirs(osp.dirname(osp.join(root, name)), exist_ok=True)
            with open(osp.join(root, name), 'w') as f:
                f.write(source)
        found = check_tree(root, (PACKAGE, ))
    missed = [
        f'not found: {what} in {name}' for name, what in CONTROL_EXPECTED
        if not any(p.startswith(name + ':') and what in p for p in found)
    ]
    wrong = [p for p in found if p.startswith(f'{PACKAGE}/models/clean.py')]
    extra = len(found) - len(CONTROL_EXPECTED)
    return missed + [f'reported in a clean module: {p}' for p in wrong
                     ] + ([f'{extra} more violations than planted: {found}'] if extra > 0 else [])
