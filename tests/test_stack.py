"""The OpenMMLab stack under mmmoga, upstream or the ``onedl-*`` forks (``mmmoga.stack``).

The end-to-end case simulates an environment of the forks: a copy of this environment's
site-packages (symbolic links) in which the upstream ``mmengine``, ``mmcv``, ``mmdet``,
``mmsegmentation`` and ``mmpretrain`` distributions are replaced by the forks' (their metadata
only: the modules are the same), so that mmengine's scope table meets the distributions that the
forks install.
"""
import importlib.metadata as metadata
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import types

import mmengine
import mmseg
import pytest
from mmengine.config.utils import MODULE2PACKAGE
from stack_under_test import ON_THE_FORKS, installed

from mmmoga import stack
from mmmoga.__main__ import main

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: upstream distribution -> the fork's, with the versions of the forks' releases
FORKS = {
    'mmengine': ('onedl-mmengine', '0.10.12', 'mmengine'),
    'mmcv': ('onedl-mmcv', '2.3.6', 'mmcv'),
    'mmdet': ('onedl-mmdetection', '3.5.1', 'mmdet'),
    'mmsegmentation': ('onedl-mmsegmentation', '1.4.2', 'mmseg'),
    'mmpretrain': ('onedl-mmpretrain', '1.3.6', 'mmpretrain'),
}
SEG_CONFIG = osp.join(ROOT, 'configs', 'semfpn_moganet_xt_toy.py')  # its bases are mmseg::
USER_CONFIG = """
_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'
custom_imports = dict(imports=['mmmoga'], allow_failed_imports=False)
model = dict(backbone=dict(_delete_=True, type='MogaNet', arch='xtiny', out_indices=(0, 1, 2, 3)),
             decode_head=dict(in_channels=[32, 64, 96, 192]), auxiliary_head=dict(in_channels=96))
"""


def test_this_environment_is_one_stack_without_a_problem(capsys):
    import mmdet
    rows = {row['module']: row for row in stack.stack_report()}
    assert list(rows) == ['mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain', 'mmpose']
    assert rows['mmengine']['version'] == mmengine.__version__
    assert rows['mmdet']['version'] == mmdet.__version__
    expected = 'onedl-mmsegmentation' if ON_THE_FORKS else 'mmsegmentation'
    assert rows['mmseg']['distribution'] == expected
    assert all(row['error'] is None and row['warning'] is None for row in rows.values())
    stack.check_stack()
    assert main() == 0
    assert capsys.readouterr().out.splitlines()[-1] == 'no known problem'


def test_a_library_of_the_1x_generation_stops_the_import_naming_both_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, 'mmdet', types.SimpleNamespace(__version__='2.28.2'))
    with pytest.raises(stack.UnsupportedStackError) as error:
        stack.check_stack()
    message = str(error.value)
    assert 'mmdet 2.28.2 is of the OpenMMLab 1.x generation; mmmoga needs mmdet >= 3.0.0' in message
    assert 'install mmdet (or the fork onedl-mmdetection) >= 3.0.0' in message
    assert 'mmseg' not in message  # only what is wrong


def test_a_fork_beside_its_upstream_package_is_named_with_the_fix(monkeypatch, capsys):
    real = stack._version_of
    present = 'onedl-mmengine' if ON_THE_FORKS else 'mmengine'
    other = 'mmengine' if ON_THE_FORKS else 'onedl-mmengine'
    monkeypatch.setattr(stack, '_version_of', lambda name: '0.10.9'
                        if name == other else real(name))
    versions = {present: installed(present), other: '0.10.9'}
    both = f'mmengine {versions["mmengine"]} and onedl-mmengine {versions["onedl-mmengine"]}'
    with pytest.warns(stack.MixedStackWarning) as caught:
        stack.check_stack()
    assert f'{both} are both installed' in str(caught[0].message)
    assert 'pip uninstall -y mmengine onedl-mmengine' in str(caught[0].message)
    assert main() == 1
    out = capsys.readouterr().out
    assert ['mmengine', mmengine.__version__, '(mmengine,',
            'onedl-mmengine)'] in [line.split() for line in out.splitlines()]
    assert f'problem: {both} are both installed' in out


@pytest.mark.parametrize(
    'installed, entry, mended',
    [
        ({'onedl-mmengine', 'onedl-mmsegmentation'}, 'mmsegmentation', True),  # the forks' bug
        ({'onedl-mmengine', 'onedl-mmsegmentation'}, 'onedl-mmsegmentation', False),  # fixed
        ({'mmengine', 'mmsegmentation'}, 'mmsegmentation', False),  # upstream
        ({'onedl-mmengine', 'mmsegmentation'}, 'mmsegmentation', False),
        ({'mmengine', 'onedl-mmsegmentation'}, 'mmsegmentation', False),  # upstream mmengine
        ({'onedl-mmengine'}, 'mmsegmentation', False),  # no mmseg at all
    ])
def test_the_mmseg_scope_is_mended_only_under_the_forks_bug(monkeypatch, installed, entry, mended):
    monkeypatch.setattr(stack, '_version_of', lambda name: '1.0.0' if name in installed else None)
    monkeypatch.setitem(MODULE2PACKAGE, 'mmseg', entry)
    assert stack.mend_mmseg_scope() is mended
    assert MODULE2PACKAGE['mmseg'] == ('onedl-mmsegmentation' if mended else entry)


def fork_site_packages(root) -> str:
    """A ``sitecustomize`` that puts ``root/site`` in place of this environment's site-packages:
    the same files, with each upstream distribution's metadata replaced by its fork's."""
    real = sysconfig.get_paths()['purelib']
    site = root / 'site'
    site.mkdir()
    upstream = {name.replace('-', '_') for name in FORKS}
    for entry in os.listdir(real):
        if entry.endswith('.dist-info') and entry.split('-')[0].lower() in upstream:
            continue
        os.symlink(osp.join(real, entry), site / entry)
    for fork, version, module in FORKS.values():
        info = site / f'{fork.replace("-", "_")}-{version}.dist-info'
        info.mkdir()
        (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {fork}\nVersion: {version}\n')
        (info / 'top_level.txt').write_text(f'{module}\n')
    custom = root / 'custom'
    custom.mkdir()
    (custom / 'sitecustomize.py').write_text(
        f'import sys\nsys.path[:] = [{str(site)!r} if p == {real!r} else p for p in sys.path]\n')
    return str(custom)


@pytest.fixture(scope='module')
def fork_env(tmp_path_factory):
    if ON_THE_FORKS:
        pytest.skip('the forks are installed: the toy tests run on them instead of a simulation')
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [fork_site_packages(tmp_path_factory.mktemp('forks')), ROOT])
    return env


def run(code, env, cwd):
    return subprocess.run([sys.executable, '-c', code],
                          env=env,
                          cwd=cwd,
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_the_simulated_forks_have_the_forks_metadata(fork_env, tmp_path):
    """Control of the simulation: the modules import, from the forks' distributions only."""
    code = ('import importlib.metadata as m, mmseg, mmengine\n'
            'for name in ("mmsegmentation", "onedl-mmsegmentation", "mmengine", '
            '"onedl-mmengine"):\n'
            '    try:\n        print(name, m.version(name))\n'
            '    except m.PackageNotFoundError:\n        print(name, None)\n')
    result = run(code, fork_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split('\n')[:4] == [
        'mmsegmentation None', 'onedl-mmsegmentation 1.4.2', 'mmengine None',
        'onedl-mmengine 0.10.12'
    ]


def test_mmseg_base_configs_load_under_the_forks_after_import_mmmoga(fork_env, tmp_path):
    (tmp_path / 'my_upernet.py').write_text(USER_CONFIG)
    load = ('from mmengine.config import Config\n'
            'cfg = Config.fromfile({path!r})\n'
            'print("loaded", cfg.model.backbone.type)\n')
    # control: the forks' bug, as a config (ours or the user's) meets it without mmmoga
    for path in (SEG_CONFIG, str(tmp_path / 'my_upernet.py')):
        result = run(load.format(path=path), fork_env, tmp_path)
        assert result.returncode != 0
        assert 'mmsegmentation is not installed' in result.stderr, result.stderr[-2000:]
    # what tools/train.py and tools/test.py do: import mmmoga, then read the config
    code = ('import warnings\nwarnings.filterwarnings("error", "mmmoga")\n'
            'import mmmoga\nfrom mmengine.config.utils import MODULE2PACKAGE\n'
            'from mmmoga.utils import load_config\n'
            'print(MODULE2PACKAGE["mmseg"])\n'
            f'for path in ({SEG_CONFIG!r}, {str(tmp_path / "my_upernet.py")!r}):\n'
            '    print("loaded", load_config(path).model.backbone.type)\n')
    result = run(code, fork_env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split('\n')[:3] == [
        'onedl-mmsegmentation', 'loaded MogaNet', 'loaded MogaNet'
    ]


def test_import_mmmoga_under_the_forks_says_nothing(fork_env, tmp_path):
    code = 'import warnings\nwarnings.filterwarnings("error", "mmmoga")\nimport mmmoga, mmseg\n'
    result = run(code, fork_env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    result = subprocess.run([sys.executable, '-m', 'mmmoga'],
                            env=fork_env,
                            cwd=tmp_path,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ['mmseg', mmseg.__version__, '(onedl-mmsegmentation)'] in lines  # the module's version
    assert ['mmpose', metadata.version('mmpose'), '(mmpose)'] in lines
    assert lines[-1] == ['no', 'known', 'problem']
    assert 'Warning' not in result.stderr, result.stderr[-3000:]
