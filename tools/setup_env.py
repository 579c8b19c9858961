#!/usr/bin/env python
"""Bring up mmmoga's working stack in the current Python environment, pinned by
``requirements/stack.txt``. Idempotent: a step whose packages are already right costs a version
check, so a second run takes seconds.

Steps (each handles one trap of today's stack):
  1. torch + torchvision as one pair from the package index (a machine-local CPU torch wheel found
     through ``PIP_FIND_LINKS`` does not match the index's torchvision: ``torchvision::nms does not
     exist``), so find-links are switched off for that one call.
  2. build tools: ``setuptools<81`` (mmcv's setup.py imports ``pkg_resources``), ninja, wheel.
  3. mmengine and safetensors (with torch, all the backbones need: ``pip install mmmoga``).
  4. mmcv 2.1.0 with ops, built from source (no wheel exists for recent torch; mmdet 3.3 and mmseg
     1.2 refuse mmcv >= 2.2). The wheel is cached per torch build and CUDA flavour in
     ``$MMMOGA_CACHE`` (default ``~/.cache/mmmoga``), so the ~30 min build happens once per machine.
  5. mmdet, mmsegmentation (+ its undeclared ``ftfy``/``regex``), mmpretrain.
  6. mmpose without its deps (it declares ``chumpy``, which does not build and top-down models do
     not use), then its real deps, with ``xtcocotools`` built from source (the wheel is built for
     NumPy 1: ``numpy.dtype size changed``).
  7. openmim (``mim search / train / test mmmoga``) without its ``opendatalab`` dependency, whose
     ``openxlab`` pins ``setuptools~=60.2``, ``requests~=2.28`` and ``rich~=13.4`` (mim's search,
     train and test never import it), then mim's real dependencies.
  8. mmmoga itself (editable; its ``setup.py`` links configs, tools, metafiles and model-index.yml
     into ``mmmoga/.mim``, where mim looks for them) and the test and lint tools.

Usage: ``python tools/setup_env.py [--no-tests] [--check]``.
"""
import argparse
import importlib.metadata as metadata
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STACK = osp.join(ROOT, 'requirements', 'stack.txt')
CACHE = os.environ.get('MMMOGA_CACHE', osp.expanduser('~/.cache/mmmoga'))
MMPOSE_RUNTIME_DEPS = ['json_tricks', 'munkres', 'scipy', 'matplotlib', 'pillow', 'opencv-python']
MIM_RUNTIME_DEPS = ['click', 'colorama', 'model-index', 'pandas', 'requests', 'rich', 'tabulate']
TEST_TOOLS = ('flake8', 'isort', 'yapf', 'onnx', 'onnxruntime')  # pinned in stack.txt (not pytest)
MIM_LINK = osp.join(ROOT, 'mmmoga', '.mim', 'configs')


def read_pins() -> dict:
    pins = {}
    with open(STACK) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if '==' in line:
                name, version = line.split('==')
                pins[name.strip().lower()] = version.strip()
    return pins


PINS = read_pins()


def log(msg: str) -> None:
    print(f'[setup_env] {msg}', flush=True)


def installed(dist: str):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def version_ok(dist: str) -> bool:
    """The installed version matches the pin (ignoring a local suffix such as ``+cu130``)."""
    version = installed(dist)
    return version is not None and version.split('+')[0] == PINS[dist]


# what each step needs to be importable; all are checked in one interpreter (see probe())
IMPORT_CHECKS = {
    'torch': 'import torchvision; torchvision.ops.nms',
    'build_tools': 'import pkg_resources, ninja, wheel, Cython',
    'backbone_runtime': 'import mmengine, safetensors.torch',
    'mmcv': 'from mmcv.ops import nms, RoIAlign',
    'task_libraries': 'import mmdet, mmseg, mmpretrain, ftfy, regex',
    'mmpose': 'import mmpose, json_tricks, munkres; from xtcocotools.coco import COCO',
    'mmmoga': f'import mmmoga, os; assert os.path.dirname(mmmoga.__path__[0]) == {ROOT!r}',
    'mim': 'import mim, modelindex, pandas; from mim.commands.search import get_model_info',
    'pytest': 'import pytest, flake8, isort, yapf, onnx, onnxruntime',
}
_PROBE = """
import json, sys, warnings
warnings.filterwarnings('ignore')
checks, ok = json.loads(sys.argv[1]), {}
for name, code in checks.items():
    try:
        exec(code, {})
        ok[name] = True
    except Exception:
        ok[name] = False
print(json.dumps(ok))
"""
_probed = {}


def probe() -> None:
    """Run every import check in one fresh interpreter (imports are what takes the time)."""
    # cwd outside the repository: `import mmmoga` must find the installed package, not ./mmmoga
    result = subprocess.run(
        [sys.executable, '-c', _PROBE, json.dumps(IMPORT_CHECKS)],
        capture_output=True,
        text=True,
        cwd=osp.dirname(ROOT))
    lines = result.stdout.strip().splitlines()
    _probed.clear()
    _probed.update(json.loads(lines[-1]) if result.returncode == 0 and lines else {})


def imports_ok(name: str) -> bool:
    return _probed.get(name, False)


def pip(*args: str, env: dict = None) -> None:
    cmd = [sys.executable, '-m', 'pip', 'install', '--disable-pip-version-check', *args]
    log(' '.join(cmd[1:]))
    subprocess.run(cmd, check=True, env=env)


def pinned(*dists: str) -> list:
    return [f'{d}=={PINS[d]}' for d in dists]


def step_torch() -> bool:
    if (version_ok('torch') and version_ok('torchvision') and imports_ok('torch')):
        return False
    env = dict(os.environ)
    env.pop('PIP_FIND_LINKS', None)
    # os.devnull as config file hides find-links set in pip.conf for this one call
    env['PIP_CONFIG_FILE'] = os.devnull
    pip('--force-reinstall', '--no-deps', *pinned('torch', 'torchvision'), env=env)
    pip(*pinned('torch', 'torchvision'), env=env)  # their own dependencies
    return True


def step_build_tools() -> bool:
    if imports_ok('build_tools'):
        return False
    pip('-c', STACK, 'setuptools<81', 'ninja', 'wheel', 'psutil', 'cython')
    return True


def step_mmengine() -> bool:
    dists = ('mmengine', 'safetensors')
    if all(version_ok(d) for d in dists) and imports_ok('backbone_runtime'):
        return False
    pip('-c', STACK, *pinned(*dists))
    return True


def mmcv_cache_dir() -> str:
    import torch  # imported here: installed by step 1
    cuda = f'cu{torch.version.cuda}' if torch.cuda.is_available() else 'cpu'
    return osp.join(CACHE, 'wheels', f'mmcv-{PINS["mmcv"]}-torch{torch.__version__}-{cuda}')


def step_mmcv() -> bool:
    if version_ok('mmcv') and imports_ok('mmcv'):
        return False
    wheel_dir = mmcv_cache_dir()
    wheels = [f for f in os.listdir(wheel_dir) if f.endswith('.whl')] if osp.isdir(wheel_dir) \
        else []
    if not wheels:
        os.makedirs(wheel_dir, exist_ok=True)
        log(f'building mmcv {PINS["mmcv"]} with ops from source (about 30 min on 2 cores); the '
            f'wheel is cached in {wheel_dir}')
        env = dict(os.environ, MMCV_WITH_OPS='1', MAX_JOBS=os.environ.get('MAX_JOBS', '2'))
        cmd = [
            sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
            '--no-binary', 'mmcv', '-w', wheel_dir, *pinned('mmcv')
        ]
        log(' '.join(cmd[1:]))
        start = time.time()
        subprocess.run(cmd, check=True, env=env)
        log(f'mmcv built in {(time.time() - start) / 60:.1f} min')
        wheels = [f for f in os.listdir(wheel_dir) if f.endswith('.whl')]
    pip('--no-deps', '--force-reinstall', osp.join(wheel_dir, sorted(wheels)[-1]))
    # mmcv's own runtime deps (not torch, which is pinned above)
    pip('-c', STACK, 'addict', 'packaging', 'Pillow', 'pyyaml', 'yapf', 'opencv-python')
    return True


def step_task_libraries() -> bool:
    dists = ('mmdet', 'mmsegmentation', 'mmpretrain')
    if all(version_ok(d) for d in dists) and imports_ok('task_libraries'):
        return False
    pip('-c', STACK, *pinned(*dists), 'ftfy', 'regex')
    return True


def step_mmpose() -> bool:
    if version_ok('mmpose') and imports_ok('mmpose'):
        return False
    pip('--no-deps', *pinned('mmpose'))
    pip('-c', STACK, *MMPOSE_RUNTIME_DEPS)
    probe()
    if not imports_ok('mmpose'):
        pip('--force-reinstall', '--no-deps', '--no-build-isolation', '--no-binary', 'xtcocotools',
            'xtcocotools')
    return True


def step_mim() -> bool:
    if version_ok('openmim') and imports_ok('mim'):
        return False
    pip('--no-deps', *pinned('openmim'))
    pip('-c', STACK, *MIM_RUNTIME_DEPS)
    return True


def step_mmmoga(with_tests: bool) -> bool:
    changed = False
    # an editable install links mmmoga/.mim/* to the checkout; a wheel built in the checkout
    # (`pip wheel .`) leaves copies there instead, which would go stale: reinstall then
    if installed('mmmoga') is None or not imports_ok('mmmoga') or not osp.islink(MIM_LINK):
        pip('--no-deps', '--no-build-isolation', '-e', ROOT)
        changed = True
    if with_tests and not (imports_ok('pytest') and all(version_ok(d) for d in TEST_TOOLS)):
        pip('-r', osp.join(ROOT, 'requirements', 'tests.txt'))  # it reads stack.txt's pins
        changed = True
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--no-tests', action='store_true', help='skip the test requirements')
    parser.add_argument('--check', action='store_true', help='only report the installed stack')
    args = parser.parse_args()
    start = time.time()
    probe()
    if not args.check:
        steps = (step_torch, step_build_tools, step_mmengine, step_mmcv, step_task_libraries,
                 step_mmpose, step_mim, lambda: step_mmmoga(with_tests=not args.no_tests))
        for step in steps:
            if step():
                probe()  # something was installed: re-check what imports
    versions = ', '.join(f'{d} {installed(d)}' for d in [*PINS, 'numpy', 'opencv-python']
                         if installed(d))
    log(f'installed: {versions}')
    failed = [
        name for name, ok in _probed.items() if not ok and not (name == 'pytest' and args.no_tests)
    ]
    if failed or not _probed:
        sys.exit(f'[setup_env] still failing: {failed or "the import probe"}; run '
                 f'`python tools/setup_env.py` (without --check) and read its pip output')
    log(f'stack ready ({time.time() - start:.0f} s)')


if __name__ == '__main__':
    main()
