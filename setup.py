import os.path as osp

from setuptools import find_packages, setup


def get_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'mmmoga', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmmoga',
    version=get_version(),
    description='MogaNet, HorNet, Conv2Former, InceptionNeXt and HorFPN for OpenMMLab 2.x',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    python_requires='>=3.9',
    # The OpenMMLab stack needs install steps pip cannot express (mmcv from source, torch/torchvision
    # as a pair, mmpose without chumpy): `python tools/setup_env.py` installs it, pinned in
    # requirements/stack.txt.
    install_requires=[],
    extras_require={'tests': ['pytest']},
    zip_safe=False,
)
