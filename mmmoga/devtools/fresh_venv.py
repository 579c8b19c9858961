"""A fresh venv in a temporary directory, for the commands that test mmmoga on another stack than
the one installed (``tools/misc/test_min_torch.py``, ``tools/misc/test_onedl.py``)."""
import contextlib
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
from typing import Iterator, NamedTuple

__all__ = ['FreshVenv', 'fresh_venv']


class FreshVenv(NamedTuple):
    python: str  # the venv's interpreter
    env: dict  # os.environ with the venv's bin first on PATH, VIRTUAL_ENV set, no PYTHONPATH
    work: str  # the temporary directory that holds the venv (``work/venv``), for other files


@contextlib.contextmanager
def fresh_venv(prefix: str, keep: bool = False) -> Iterator[FreshVenv]:
    """Create a venv in a new temporary directory (named ``prefix...``) and yield it; remove the
    directory afterwards, or keep it and print the venv's path where ``keep``."""
    work = tempfile.mkdtemp(prefix=prefix)
    venv = osp.join(work, 'venv')
    try:
        print('+', sys.executable, '-m', 'venv', venv, flush=True)
        subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
        env = dict(os.environ, VIRTUAL_ENV=venv)
        env['PATH'] = osp.join(venv, 'bin') + os.pathsep + env.get('PATH', '')
        env.pop('PYTHONPATH', None)
        yield FreshVenv(osp.join(venv, 'bin', 'python'), env, work)
    finally:
        if keep:
            print(f'venv kept: {venv}', flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
