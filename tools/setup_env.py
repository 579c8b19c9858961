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
     1.2 refuse mmcv >= 2.2). Where torch sees a GPU, with its CUDA ops for the visible GPUs'
     architectures (``TORCH_CUDA_ARCH_LIST``, unless set), compiled by an nvcc of torch's CUDA
     major version (``$CUDA_HOME``/``$CUDA_PATH``, PATH, ``/usr/local/cuda``, else the package
     index's nvcc wheel), and checked: RoIAlign and nms on CUDA tensors must match the CPU, or it
     stops (``--cpu-only-mmcv`` opts out). The wheel is cached per torch build and ops (``cpu``, or
     torch's CUDA and the arch list) in ``$MMMOGA_CACHE`` (default ``~/.cache/mmmoga``), so the
     build (about 6-10 min on 2 cores with the CPU ops, longer with CUDA ops) happens once per
     machine.
  5. mmdet, mmsegmentation (+ its undeclared ``ftfy``/``regex``), mmpretrain.
  6. mmpose without its deps (it declares ``chumpy``, which does not build and top-down models do
     not use), then its real deps, with ``xtcocotools`` built from source (the wheel is built for
     NumPy 1: ``numpy.dtype size changed``).
  7. openmim (``mim search / train / test mmmoga``) without its ``opendatalab`` dependency, whose
     ``openxlab`` pins ``setuptools~=60.2``, ``requests~=2.28`` and ``rich~=13.4`` (mim's search,
     train and test never import it), then mim's real dependencies.
  8. mmmoga itself (editable; its ``setup.py`` links configs, tools, metafiles and model-index.yml
     into ``mmmoga/.mim``, where mim looks for them) and the test and lint tools.

``--stack onedl`` installs the maintained forks instead of steps 3-5's upstream packages
(``onedl-mmengine``, ``onedl-mmcv`` built from source with ops in the same way, cached apart,
``onedl-mmdetection``, ``onedl-mmsegmentation``, ``onedl-mmpretrain``; pins in stack.txt), with
mmpose (no fork) beside them. The forks share the upstream import names, so one environment holds
one stack: it stops where the other stack's packages are installed.

Usage: ``python tools/setup_env.py [--stack upstream|onedl] [--no-tests] [--check]
[--cpu-only-mmcv]``.
"""
import argparse
import importlib.metadata as metadata
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from typing import Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
STACK = osp.join(ROOT, 'requirements', 'stack.txt')
CACHE = os.environ.get('MMMOGA_CACHE', osp.expanduser('~/.cache/mmmoga'))
MMPOSE_RUNTIME_DEPS = ['json_tricks', 'munkres', 'scipy', 'matplotlib', 'pillow', 'opencv-python']
MIM_RUNTIME_DEPS = ['click', 'colorama', 'model-index', 'pandas', 'requests', 'rich', 'tabulate']
# the test and lint tools pinned in stack.txt (pytest is not)
TEST_TOOLS = ('pytest-xdist', 'flake8', 'isort', 'yapf', 'onnx', 'onnxruntime', 'timm')
MIM_LINK = osp.join(ROOT, 'mmmoga', '.mim', 'configs')


@dataclass(frozen=True)
class Stack:
    """The distributions of one OpenMMLab stack (their import names are the same in both)."""
    mmengine: str
    mmcv: str
    task_libraries: tuple  # mmdet, mmseg, mmpretrain


STACKS = {
    'upstream':
    Stack('mmengine', 'mmcv', ('mmdet', 'mmsegmentation', 'mmpretrain')),
    'onedl':
    Stack('onedl-mmengine', 'onedl-mmcv',
          ('onedl-mmdetection', 'onedl-mmsegmentation', 'onedl-mmpretrain')),
}
stack = STACKS['upstream']  # main() sets the one of --stack


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
    'pytest': 'import pytest, xdist, flake8, isort, yapf, onnx, onnxruntime, timm',
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


def other_stack_installed() -> list:
    """The installed distributions of the stack that is not :data:`stack`."""
    other = next(s for s in STACKS.values() if s != stack)
    return [d for d in (other.mmengine, other.mmcv, *other.task_libraries) if installed(d)]


def step_mmengine() -> bool:
    dists = (stack.mmengine, 'safetensors')
    if all(version_ok(d) for d in dists) and imports_ok('backbone_runtime'):
        return False
    pip('-c', STACK, *pinned(*dists))
    return True


@dataclass(frozen=True)
class CudaFacts:
    """What decides how mmcv is built: the torch build and the GPUs it sees."""
    torch_version: str  # torch.__version__, e.g. '2.13.0+cu130'
    cuda_available: bool = False  # torch.cuda.is_available()
    torch_cuda: Optional[str] = None  # torch.version.cuda, e.g. '13.0' (None: a CPU build of torch)
    capabilities: tuple = ()  # torch.cuda.get_device_capability(i) of each visible GPU

    @property
    def gpu(self) -> bool:
        """torch sees a GPU and is built with CUDA: mmcv's ops must work on CUDA tensors."""
        return self.cuda_available and bool(self.torch_cuda)


def cuda_facts() -> CudaFacts:
    import torch  # imported here: installed by step 1
    available = torch.cuda.is_available()
    capabilities = tuple(
        tuple(torch.cuda.get_device_capability(i))
        for i in range(torch.cuda.device_count())) if available else ()
    return CudaFacts(torch.__version__, available, torch.version.cuda, capabilities)


def user_arch_list(environ: dict) -> str:
    """The user's ``TORCH_CUDA_ARCH_LIST`` ('' if unset or ``native``, which means the visible
    GPUs)."""
    archs = environ.get('TORCH_CUDA_ARCH_LIST', '').strip()
    return '' if archs == 'native' else archs


def arch_list(facts: CudaFacts, environ: dict) -> str:
    """``TORCH_CUDA_ARCH_LIST`` for the build: the user's own if set, else the compute capability
    of every visible GPU, sorted, each once: ``'8.0;9.0'``."""
    return user_arch_list(environ) or ';'.join(f'{major}.{minor}'
                                               for major, minor in sorted(set(facts.capabilities)))


def sm_tag(archs: str) -> str:
    """A file-name-safe form of an arch list: ``'8.0;9.0'`` -> ``'80_90'``, ``'8.6+PTX 9.0a'`` ->
    ``'86ptx_90a'``."""
    return '_'.join(
        re.sub('[^0-9a-z]', '', arch.lower()) for arch in re.split(r'[;\s]+', archs) if arch)


def mmcv_wheel_key(facts: CudaFacts,
                   environ: dict,
                   cpu_only: bool = False,
                   dist: str = 'mmcv') -> str:
    """The cache directory name of the mmcv wheel: which distribution (``mmcv`` or the fork's),
    which torch build, and which ops (``cpu``, or ``cu<torch's CUDA>-sm<arch list>``), so that a
    CPU wheel is never reused on a GPU machine, nor a wheel built for other GPUs."""
    key = f'{dist}-{PINS[dist]}-torch{facts.torch_version}'
    if not facts.gpu or cpu_only:
        return f'{key}-cpu'
    return f'{key}-cu{facts.torch_cuda}-sm{sm_tag(arch_list(facts, environ))}'


@dataclass(frozen=True)
class Nvcc:
    path: str  # the nvcc torch.utils.cpp_extension runs: <cuda_home>/bin/nvcc
    cuda_home: str  # CUDA_HOME of the build
    source: str  # where it was found, for the messages


#: The package index's CUDA compiler, by torch's CUDA major version: the packages (installed at
#: torch's CUDA major.minor) and the toolkit directory they fill in site-packages (the wheel holds
#: ``nvidia/cu13/bin/nvcc``; ``nvidia-nvvm`` brings cicc, ``nvidia-cuda-crt`` and
#: ``nvidia-cuda-cccl`` the headers nvcc includes). CUDA 12 has none: ``nvidia-cuda-nvcc-cu12``
#: ships ptxas but no nvcc.
CU13_NVCC = ('nvidia-cuda-nvcc', 'nvidia-nvvm', 'nvidia-cuda-crt', 'nvidia-cuda-cccl')
NVCC_WHEELS = {'13': (CU13_NVCC, 'nvidia/cu13')}
SITE_PACKAGES = sysconfig.get_path('purelib')  # where pip installs for this interpreter


def nvcc_wheel(torch_cuda: str, site_packages: str):
    """``(requirements, cuda_home)`` of the package index's nvcc for torch's CUDA, or None."""
    if torch_cuda.split('.')[0] not in NVCC_WHEELS:
        return None
    packages, home = NVCC_WHEELS[torch_cuda.split('.')[0]]
    return [f'{p}=={torch_cuda}.*' for p in packages], osp.join(site_packages, home)


def find_nvcc(environ: dict, which, exists, realpath=osp.realpath, wheel_home: str = None):
    """The first nvcc of: ``$CUDA_HOME`` / ``$CUDA_PATH`` if it holds ``bin/nvcc``; ``nvcc`` on
    PATH, in a toolkit that has the CUDA headers (the directory above its ``bin/``, or above the
    file it links to); ``/usr/local/cuda``; the nvcc wheel installed in ``wheel_home``. Returns
    ``(Nvcc or None, [each place that did not fit, and why])``."""
    tried = []
    for var in ('CUDA_HOME', 'CUDA_PATH'):
        home = environ.get(var)
        if home:
            if exists(osp.join(home, 'bin', 'nvcc')):
                return Nvcc(osp.join(home, 'bin', 'nvcc'), home, f'${var}'), tried
            tried.append(f'${var}={home} (no bin/nvcc)')
    on_path = which('nvcc')
    if on_path:
        for nvcc in dict.fromkeys((on_path, realpath(on_path))):
            home = osp.dirname(osp.dirname(nvcc))
            if exists(osp.join(home, 'include', 'cuda_runtime_api.h')):
                return Nvcc(nvcc, home, f'PATH ({on_path})'), tried
        tried.append(f'nvcc on PATH ({on_path}: no include/cuda_runtime_api.h in '
                     f'{osp.dirname(osp.dirname(on_path))})')
    else:
        tried.append('nvcc on PATH (none)')
    if exists('/usr/local/cuda/bin/nvcc'):
        return Nvcc('/usr/local/cuda/bin/nvcc', '/usr/local/cuda', '/usr/local/cuda'), tried
    tried.append('/usr/local/cuda/bin/nvcc (missing)')
    if wheel_home:
        if exists(osp.join(wheel_home, 'bin', 'nvcc')):
            return Nvcc(osp.join(wheel_home, 'bin', 'nvcc'), wheel_home, 'the nvcc wheel'), tried
        tried.append(f'{wheel_home}/bin/nvcc (the nvidia-cuda-nvcc wheel: not installed)')
    return None, tried


def nvcc_version(text: str) -> Optional[str]:
    """The CUDA version in ``nvcc --version``'s output (``'... release 12.4, V12.4.131'`` ->
    ``'12.4'``), or None."""
    match = re.search(r'release (\d+\.\d+)', text)
    return match.group(1) if match else None


def nvcc_output(nvcc: str) -> str:
    """What ``nvcc --version`` prints ('' if it does not run)."""
    try:
        result = subprocess.run([nvcc, '--version'], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return ''
    return result.stdout + result.stderr


def cudart_link(cuda_home: str, major: str, exists) -> Optional[str]:
    """The ``libcudart.so.<major>`` to link against when ``cuda_home`` lacks the unversioned
    ``libcudart.so`` that ``-lcudart`` needs (the wheels ship only the versioned library), else
    None."""
    libs = [osp.join(cuda_home, d) for d in ('lib64', 'lib')]
    if any(exists(osp.join(lib, 'libcudart.so')) for lib in libs):
        return None
    return next((osp.join(lib, f'libcudart.so.{major}')
                 for lib in libs if exists(osp.join(lib, f'libcudart.so.{major}'))), None)


@dataclass
class MmcvBuild:
    """How to build mmcv here: the variables set for ``pip wheel``, what to log, and what must
    happen first (the nvcc wheels to install; a ``libcudart.so`` link) or why it cannot."""
    cuda: bool = False
    env: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    wheels: list = field(default_factory=list)
    cudart: Optional[str] = None  # link <CUDART_LINK_DIR>/libcudart.so to this before the build
    looked: list = field(default_factory=list)  # where nvcc was looked for and not found
    error: Optional[str] = None


CUDART_LINK_DIR = osp.join(CACHE, 'cudart-link')
CPU_ONLY_WARNING = ('--cpu-only-mmcv: torch sees a GPU, but mmcv is built with its CPU ops only: '
                    'its ops (RoIAlign, nms, ...) fail on CUDA tensors, so detection, segmentation '
                    'and pose models cannot run on the GPU')


def pip_command(requirements: list) -> str:
    return 'pip install ' + ' '.join(f'"{r}"' for r in requirements)


def no_nvcc_message(facts: CudaFacts, tried: list, wheel, pip_failed: bool = False) -> str:
    cuda = facts.torch_cuda
    looked = '; '.join(tried)
    if wheel is None:
        index = (f'the package index has no nvcc for CUDA {cuda.split(".")[0]} (its nvcc wheels '
                 'start with CUDA 13: nvidia-cuda-nvcc-cu12 ships ptxas but no nvcc)')
        get_it = ''
    else:
        index = (f'`{pip_command(wheel[0])}` failed (see its output above)'
                 if pip_failed else f'{wheel[1]}/bin/nvcc is missing after installing the wheels')
        get_it = f', or `{pip_command(wheel[0])}` and set CUDA_HOME={wheel[1]}'
    return (f'[setup_env] torch {facts.torch_version} sees a GPU, and building mmcv\'s CUDA ops '
            f'needs nvcc from CUDA {cuda}: none found (looked at: {looked}); {index}. Fix: install '
            f'the CUDA toolkit {cuda} and set CUDA_HOME to it (or put its bin/ on PATH){get_it}; '
            'or pass --cpu-only-mmcv to build mmcv without CUDA ops')


def mmcv_build_plan(facts: CudaFacts,
                    environ: dict,
                    cpu_only: bool = False,
                    which=None,
                    exists=None,
                    realpath=None,
                    read_nvcc=None,
                    site_packages: str = None,
                    install_wheels: bool = True) -> MmcvBuild:
    """How to build mmcv's ops: the CPU ops where torch sees no GPU (or with ``cpu_only``), else
    the CUDA ops for :func:`arch_list`, compiled by :func:`find_nvcc`'s nvcc, which must have
    torch's CUDA major version. The lookups (``which``, ``exists``, ``realpath``, ``read_nvcc``:
    nvcc's path -> its ``--version`` output) default to the real ones."""
    which, exists = which or shutil.which, exists or osp.exists
    realpath, read_nvcc = realpath or osp.realpath, read_nvcc or nvcc_output
    env = {'MMCV_WITH_OPS': '1', 'MAX_JOBS': environ.get('MAX_JOBS', '2')}
    if not facts.gpu:
        return MmcvBuild(env=env)
    if cpu_only:
        # mmcv's setup.py compiles the CUDA ops whenever torch sees a GPU: hide it from the build
        env.update(FORCE_CUDA='0', CUDA_VISIBLE_DEVICES='')
        return MmcvBuild(env=env)
    plan = MmcvBuild(cuda=True, env=env)
    archs, detected = arch_list(facts, environ), arch_list(facts, {})
    if not archs:
        plan.error = ('[setup_env] torch sees a GPU but reports no device capability: set '
                      'TORCH_CUDA_ARCH_LIST to your GPUs\' compute capability (e.g. "8.0;9.0")')
        return plan
    if user_arch_list(environ):
        plan.notes.append(f'TORCH_CUDA_ARCH_LIST={archs} is yours: used instead of the visible '
                          f'GPUs\' {detected or "(none)"}')
    compiler = (environ.get('CXX') or 'c++').split()[0]
    if not which(compiler):
        plan.error = (f'[setup_env] no C++ compiler: `{compiler}` is not on PATH, and mmcv\'s ops '
                      'are compiled with it (nvcc uses it as host compiler). Fix: install g++ '
                      '(Debian/Ubuntu: apt-get install g++) or set CXX to your C++ compiler')
        return plan
    wheel = nvcc_wheel(facts.torch_cuda, site_packages or SITE_PACKAGES)
    nvcc, plan.looked = find_nvcc(environ, which, exists, realpath, wheel and wheel[1])
    if nvcc is None:
        if wheel and install_wheels:
            plan.wheels = wheel[0]
            plan.notes.append(f'no nvcc found ({"; ".join(plan.looked)}): installing CUDA '
                              f'{facts.torch_cuda}\'s from the package index')
        else:
            plan.error = no_nvcc_message(facts, plan.looked, wheel)
        return plan
    version, torch_cuda = nvcc_version(read_nvcc(nvcc.path)), facts.torch_cuda
    if version is None:
        plan.error = (f'[setup_env] {nvcc.path} (from {nvcc.source}) does not run or prints no '
                      'CUDA version (`nvcc --version`: "release X.Y"). Fix: set CUDA_HOME to a '
                      f'working CUDA {torch_cuda} toolkit')
        return plan
    fix = f'set CUDA_HOME to a CUDA {torch_cuda} toolkit (install it if needed)'
    if wheel:
        fix += f', or `{pip_command(wheel[0])}` and set CUDA_HOME={wheel[1]}'
    if version.split('.')[0] != torch_cuda.split('.')[0]:
        plan.error = (f'[setup_env] nvcc {nvcc.path} (from {nvcc.source}) is CUDA {version}, but '
                      f'torch {facts.torch_version} is built with CUDA {torch_cuda}: mmcv\'s CUDA '
                      f'ops must be compiled with CUDA {torch_cuda.split(".")[0]}.x. Fix: {fix}')
        return plan
    if version != torch_cuda:
        plan.notes.append(f'warning: nvcc is CUDA {version}, torch is built with CUDA {torch_cuda} '
                          '(same major version: torch.utils.cpp_extension accepts it)')
    plan.notes.append(f'CUDA ops for TORCH_CUDA_ARCH_LIST={archs}, compiled by nvcc {version} from '
                      f'{nvcc.source} (CUDA_HOME={nvcc.cuda_home})')
    env.update(FORCE_CUDA='1', TORCH_CUDA_ARCH_LIST=archs, CUDA_HOME=nvcc.cuda_home)
    plan.cudart = cudart_link(nvcc.cuda_home, version.split('.')[0], exists)
    if plan.cudart:
        env['LIBRARY_PATH'] = os.pathsep.join(
            p for p in (CUDART_LINK_DIR, environ.get('LIBRARY_PATH')) if p)
    return plan


# RoIAlign and nms, mmcv's ops that detection needs first, on small CUDA tensors against the CPU;
# prints the list of what failed
_CUDA_OPS_CHECK = """
import json, torch
from mmcv.ops import RoIAlign, nms
feats = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) / 64
rois = torch.tensor([[0, 1.0, 1.0, 6.0, 6.0], [1, 0.5, 2.0, 7.5, 5.0]])
boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
roi_align = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)
checks = {
    'RoIAlign': (lambda d: roi_align(feats.to(d), rois.to(d)).cpu(),
                 lambda a, b: torch.allclose(a, b, atol=1e-5)),
    'nms': (lambda d: [t.cpu() for t in nms(boxes.to(d), scores.to(d), 0.5)],
            lambda a, b: torch.equal(a[1], b[1]) and torch.allclose(a[0], b[0])),
}
failed = []
for name, (run, same) in checks.items():
    try:
        if not same(run('cpu'), run('cuda')):
            failed.append(f'{name} on CUDA tensors differs from the CPU result')
    except Exception as e:
        message = (str(e).strip().splitlines() or [''])[0][:300]
        failed.append(f'{name} on CUDA tensors: {type(e).__name__}: {message}')
print(json.dumps(failed))
"""


def check_cuda_ops(run=None) -> Optional[str]:
    """What fails when the installed mmcv runs RoIAlign and nms on CUDA tensors (in a fresh
    interpreter, as :func:`probe`), or None when they match the CPU."""
    result = (run or subprocess.run)([sys.executable, '-c', _CUDA_OPS_CHECK],
                                     capture_output=True,
                                     text=True,
                                     cwd=osp.dirname(ROOT))
    lines = result.stdout.strip().splitlines()
    try:
        failed = json.loads(lines[-1]) if result.returncode == 0 and lines else None
    except ValueError:
        failed = None
    if failed is None:
        error = (result.stderr.strip().splitlines() or [f'exit status {result.returncode}'])[-1]
        return f'the check did not run: {error}'
    return '; '.join(failed) or None


def cuda_ops_message(failure: str, wheel_dir: str, facts: CudaFacts, environ: dict) -> str:
    return (
        f'[setup_env] torch sees a GPU, but the installed mmcv (from {wheel_dir}) has no '
        f'working CUDA ops: {failure}. Fix: remove {wheel_dir} and rerun `python '
        'tools/setup_env.py` to rebuild it; if that fails too, set TORCH_CUDA_ARCH_LIST to your '
        f'GPUs\' compute capability (this build: "{arch_list(facts, environ)}"; the visible '
        f'GPUs: "{arch_list(facts, {})}") and CUDA_HOME to a CUDA {facts.torch_cuda} toolkit; or '
        'pass --cpu-only-mmcv to keep mmcv without CUDA ops')


def build_mmcv(facts: CudaFacts, wheel_dir: str, cpu_only: bool) -> None:
    """Build the mmcv wheel into ``wheel_dir`` as :func:`mmcv_build_plan` says, or stop."""
    plan = mmcv_build_plan(facts, os.environ, cpu_only)
    if plan.wheels:
        for note in plan.notes:
            log(note)
        try:
            pip(*plan.wheels)
        except subprocess.CalledProcessError:
            wheel = nvcc_wheel(facts.torch_cuda, SITE_PACKAGES)
            sys.exit(no_nvcc_message(facts, plan.looked, wheel, pip_failed=True))
        plan = mmcv_build_plan(facts, os.environ, cpu_only, install_wheels=False)
    if plan.error:
        sys.exit(plan.error)
    for note in plan.notes:
        log(note)
    if plan.cudart:
        os.makedirs(CUDART_LINK_DIR, exist_ok=True)
        link = osp.join(CUDART_LINK_DIR, 'libcudart.so')
        if osp.lexists(link):
            os.remove(link)
        os.symlink(plan.cudart, link)
    os.makedirs(wheel_dir, exist_ok=True)
    time_note = 'longer with the CUDA ops' if plan.cuda else 'about 6-10 min on 2 cores'
    log(f'building {stack.mmcv} {PINS[stack.mmcv]} with ops from source ({time_note}); the '
        f'wheel is cached in {wheel_dir}')
    cmd = [
        sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-binary',
        stack.mmcv, '-w', wheel_dir, *pinned(stack.mmcv)
    ]
    log(' '.join(cmd[1:]))
    start = time.time()
    subprocess.run(cmd, check=True, env=dict(os.environ, **plan.env))
    log(f'{stack.mmcv} built in {(time.time() - start) / 60:.1f} min')


def step_mmcv(cpu_only: bool = False) -> bool:
    facts = cuda_facts()
    cuda = facts.gpu and not cpu_only
    if facts.gpu and cpu_only:
        log(f'warning: {CPU_ONLY_WARNING}')
    if version_ok(stack.mmcv) and imports_ok('mmcv'):
        if not cuda:
            return False
        failure = check_cuda_ops()
        if failure is None:
            return False
        log(f'{stack.mmcv} {installed(stack.mmcv)} is installed but its CUDA ops do not work '
            f'({failure}): installing one built with them')
    wheel_dir = osp.join(CACHE, 'wheels', mmcv_wheel_key(facts, os.environ, cpu_only, stack.mmcv))
    wheels = [f for f in os.listdir(wheel_dir) if f.endswith('.whl')] if osp.isdir(wheel_dir) \
        else []
    if not wheels:
        build_mmcv(facts, wheel_dir, cpu_only)
        wheels = [f for f in os.listdir(wheel_dir) if f.endswith('.whl')]
    pip('--no-deps', '--force-reinstall', osp.join(wheel_dir, sorted(wheels)[-1]))
    # mmcv's own runtime deps (not torch, which is pinned above)
    pip('-c', STACK, 'addict', 'packaging', 'Pillow', 'pyyaml', 'yapf', 'opencv-python')
    if cuda:
        failure = check_cuda_ops()
        if failure:
            sys.exit(cuda_ops_message(failure, wheel_dir, facts, os.environ))
        log('mmcv\'s CUDA ops work: RoIAlign and nms on CUDA tensors match the CPU')
    return True


def step_task_libraries() -> bool:
    dists = stack.task_libraries
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
    parser.add_argument(
        '--stack',
        choices=sorted(STACKS),
        default='upstream',
        help='the upstream OpenMMLab packages (default) or the maintained onedl-* forks')
    parser.add_argument(
        '--cpu-only-mmcv',
        action='store_true',
        help='where torch sees a GPU, build mmcv with its CPU ops only (they then fail on CUDA '
        'tensors)')
    args = parser.parse_args()
    global stack
    stack = STACKS[args.stack]
    start = time.time()
    other = other_stack_installed()
    if other and not args.check:
        sys.exit(f'[setup_env] this environment has {", ".join(other)}, of the other stack than '
                 f'--stack {args.stack}; both install the same modules (mmengine, mmcv, ...), so '
                 f'one environment holds one of them: use a fresh venv')
    probe()
    if not args.check:
        steps = (step_torch, step_build_tools, step_mmengine,
                 lambda: step_mmcv(cpu_only=args.cpu_only_mmcv), step_task_libraries, step_mmpose,
                 step_mim, lambda: step_mmmoga(with_tests=not args.no_tests))
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
