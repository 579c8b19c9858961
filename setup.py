import os
import os.path as osp
import shutil
import sys
from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
# What `mim` (train / test / search) and users of an installed package need besides the code. They
# are put into mmmoga/.mim at build time, the way OpenMMLab packages do it.
MIM_FILES = ('configs', 'tools', 'metafiles', 'model-index.yml')
EDITABLE_COMMANDS = ('develop', 'editable_wheel')
# pyyaml: the checkpoint loader reads the release records (sha256, size, share page) from metafiles/
# torch>=2.5: checkpoints load under a per-load allow-list (torch.serialization.safe_globals, new in
# 2.5); `make test-min-torch` runs the backbone tests on torch 2.5.0 in a fresh venv
BACKBONE_REQUIRES = ['torch>=2.5', 'numpy', 'mmengine>=0.10.0,<1.0.0', 'safetensors>=0.4', 'pyyaml']
# what every task needs besides its library: mmcv, and OpenCV for the toy data sets
TASK_COMMON = ['mmcv>=2.0.0rc4,<2.2.0', 'opencv-python']
#: pip extras: the task libraries (and mmcv, which they build on) of each task
TASK_EXTRAS = {
    'det': TASK_COMMON + ['mmdet>=3.0.0,<3.4.0'],
    'seg': TASK_COMMON + ['mmsegmentation>=1.0.0,<1.3.0', 'ftfy', 'regex'],
    'pose': TASK_COMMON + ['mmpose>=1.0.0,<1.4.0'],
    'cls': TASK_COMMON + ['mmpretrain>=1.0.0,<1.3.0'],
}
COPY_COMMANDS = ('build', 'build_py', 'bdist_wheel', 'sdist', 'install')


def get_version():
    scope = {}
    with open(osp.join(ROOT, 'mmmoga', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def add_mim_extension():
    """Fill ``mmmoga/.mim`` with the configs, tools, metafiles and model-index.yml.

    Editable installs get symbolic links to the checkout (edits show up at once); every other build
    (wheel, sdist, plain install) gets copies, which ``MANIFEST.in`` puts into the package.
    """
    if any(cmd in sys.argv for cmd in EDITABLE_COMMANDS) and os.name != 'nt':
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in EDITABLE_COMMANDS + COPY_COMMANDS):
        mode = 'copy'
    else:
        return  # egg_info, --version, ...: nothing to build
    mim_dir = osp.join(ROOT, 'mmmoga', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(ROOT, name), osp.join(mim_dir, name)
        if not osp.exists(src):
            raise FileNotFoundError(f'{src} is missing: the package needs it in mmmoga/.mim')
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmmoga',
        version=get_version(),
        description='MogaNet, HorNet, Conv2Former, InceptionNeXt and HorFPN for OpenMMLab 2.x',
        long_description=open(osp.join(ROOT, 'README.md'), encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        license='Apache-2.0',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'metafiles')),
        include_package_data=True,  # mmmoga/.mim, as listed in MANIFEST.in
        python_requires='>=3.9',
        # What the backbones import (tests/test_packaging.py checks the list): torch, mmengine,
        # safetensors and pyyaml, no mmcv. Each extra brings a task stack; `python
        # tools/setup_env.py` installs all of it pinned (requirements/stack.txt), with the steps
        # pip cannot express (mmcv built from source, torch/torchvision as a pair, mmpose without
        # chumpy). Ranges, not pins: an existing stack satisfies them as it is.
        install_requires=BACKBONE_REQUIRES,
        extras_require=dict(
            TASK_EXTRAS,
            all=sorted({r
                        for rs in TASK_EXTRAS.values()
                        for r in rs}),
            mim=['openmim'],
            tests=['pytest', 'pytest-xdist']),
        zip_safe=False,
    )
