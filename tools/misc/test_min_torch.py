#!/usr/bin/env python
"""Run the backbone tests on the lowest torch that setup.py declares (``make test-min-torch``).

Reads the ``torch>=X.Y`` entry of ``BACKBONE_REQUIRES`` in setup.py, creates a fresh venv in a
temporary directory, installs ``torch==X.Y.0`` with the other backbone requirements (mmengine at
the version requirements/stack.txt pins; the stack's torch/torchvision pins are left out) and
pytest, and runs the backbone contract, safetensors and mixed-precision tests there, from the
repository root with PYTHONPATH set to it (mmmoga itself is not installed). Exits with pytest's
status.

Examples:
  python tools/misc/test_min_torch.py                  # the declared minimum
  python tools/misc/test_min_torch.py --torch 2.4.0    # what breaks below it
  python tools/misc/test_min_torch.py --keep           # keep the venv (its path is printed)
"""
import argparse
import ast
import os.path as osp
import re
import subprocess
import sys
import time

from mmmoga.devtools.fresh_venv import fresh_venv

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TESTS = ('tests/test_backbone_contract.py', 'tests/test_safetensors.py',
         'tests/test_mixed_precision.py')


def backbone_requires():
    """``BACKBONE_REQUIRES`` of setup.py, read from its text (importing setup.py runs setup())."""
    with open(osp.join(ROOT, 'setup.py')) as f:
        match = re.search(r'^BACKBONE_REQUIRES = (\[.*?\])', f.read(), re.M | re.S)
    if match is None:
        sys.exit('ERROR: no BACKBONE_REQUIRES = [...] in setup.py')
    return ast.literal_eval(match.group(1))


def lowest_torch(requires):
    """The ``torch>=X.Y`` entry of ``requires`` and the release to test, ``X.Y.0``."""
    for req in requires:
        match = re.fullmatch(r'torch\s*>=\s*(\d+\.\d+)', req)
        if match:
            return req, match.group(1) + '.0'
    sys.exit(f'ERROR: no torch>=X.Y in BACKBONE_REQUIRES {requires}')


def stack_constraints(directory):
    """requirements/stack.txt without its torch and torchvision pins, as a file in directory."""
    with open(osp.join(ROOT, 'requirements', 'stack.txt')) as f:
        lines = [line for line in f if not re.match(r'\s*(torch|torchvision)\b', line)]
    path = osp.join(directory, 'constraints.txt')
    with open(path, 'w') as f:
        f.writelines(lines)
    return path


def run(cmd, **kwargs):
    print('+', ' '.join(cmd), flush=True)
    return subprocess.run(cmd, **kwargs)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--torch', help='torch version to install instead of the declared X.Y.0')
    parser.add_argument('--keep', action='store_true', help='keep the venv and print its path')
    args = parser.parse_args()

    requires = backbone_requires()
    declared, torch_version = lowest_torch(requires)
    torch_version = args.torch or torch_version
    others = [req for req in requires if req != declared]
    with fresh_venv('mmmoga-min-torch-', keep=args.keep) as venv:
        start = time.monotonic()
        pip = [venv.python, '-m', 'pip', 'install', '-c', stack_constraints(venv.work)]
        if run(pip + [f'torch=={torch_version}', *others, 'pytest']).returncode:
            sys.exit(f'[test_min_torch] ERROR: could not install torch=={torch_version}')
        version = [venv.python, '-c', 'import torch; print(torch.__version__)']
        installed = subprocess.check_output(version, text=True).strip()
        install_s = time.monotonic() - start

        print(f'\n[test_min_torch] running the tests with torch {installed}', flush=True)
        env = dict(venv.env, PYTHONPATH=ROOT)
        start = time.monotonic()
        status = run([venv.python, '-m', 'pytest', *TESTS, '-q'], cwd=ROOT, env=env).returncode
        tests_s = time.monotonic() - start

    print(f'[test_min_torch] install {install_s:.0f} s, tests {tests_s:.0f} s')
    result = 'PASSED' if status == 0 else f'FAILED (pytest exit status {status})'
    print(f'[test_min_torch] torch {installed} (setup.py: {declared}): {result}')
    return status


if __name__ == '__main__':
    sys.exit(main())
