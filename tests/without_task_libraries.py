"""Run Python in a subprocess where mmcv and the task libraries cannot be imported.

A ``sys.meta_path`` finder, installed before anything else runs, answers every import of
:data:`BLOCKED` (and their submodules) with ``ModuleNotFoundError``, as if they were not
installed; torch, mmengine, safetensors and the rest of the environment stay as they are.
"""
import os
import os.path as osp
import subprocess
import sys
import textwrap

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BLOCKED = ('mmcv', 'mmdet', 'mmseg', 'mmpose', 'mmpretrain')


def finder_code(blocked=BLOCKED) -> str:
    """Python source that installs a ``sys.meta_path`` finder answering every import of
    ``blocked`` (and their submodules) with ``ModuleNotFoundError``."""
    return f'''
import importlib.abc
import sys


class BlockTaskLibraries(importlib.abc.MetaPathFinder):
    blocked = {tuple(blocked)!r}

    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in self.blocked:
            raise ModuleNotFoundError(f'No module named {{name!r}} (blocked by the test)',
                                      name=name)
        return None


sys.meta_path.insert(0, BlockTaskLibraries())
'''


FINDER = finder_code()


def run_python(code: str, cwd, block: bool = True, timeout: int = 600) -> str:
    """Run ``code`` in a fresh interpreter (this checkout first on ``sys.path``), with the task
    libraries blocked unless ``block=False``; returns stdout, fails with the output otherwise."""
    source = (FINDER if block else '') + textwrap.dedent(code)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([sys.executable, '-c', source],
                            cwd=str(cwd),
                            capture_output=True,
                            text=True,
                            timeout=timeout,
                            env=env)
    assert result.returncode == 0, f'{result.stdout[-3000:]}\n{result.stderr[-5000:]}'
    return result.stdout
