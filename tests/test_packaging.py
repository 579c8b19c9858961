"""A wheel of mmmoga works where the checkout is not: it ships configs, tools, metafiles and
model-index.yml in ``mmmoga/.mim`` (as OpenMMLab packages do), ``mim search`` / ``mim train`` find
them, and ``install_requires`` names what ``import mmmoga`` imports.

The wheel is built from a copy of the checkout (so the checkout's own ``mmmoga/.mim`` links stay as
they are) and installed with ``--no-deps`` into a venv that sees this environment's stack through a
``.pth`` file listing this interpreter's site-packages directories, whatever kind of environment it
is (the machine's Python, a venv, a conda environment: ``--system-site-packages`` would show the
*base* interpreter's packages instead, which in a venv lack the stack). Every command then runs from
a directory outside the checkout, and the tests check that ``mmmoga`` comes from the wheel.
"""
import ast
import importlib.metadata as metadata
import json
import os
import os.path as osp
import re
import shutil
import site
import subprocess
import sys
import zipfile

import pytest
import yaml

from mmmoga import metafiles

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
IGNORE = shutil.ignore_patterns('.git', '.mim', '__pycache__', '*.pyc', '*.egg-info', 'work_dirs',
                                'data', 'build', 'dist', '.pytest_cache', '*.whl')
pytestmark = pytest.mark.packaging


def run(cmd, cwd, timeout=300, env=None):
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, (f'{" ".join(map(str, cmd))} failed ({result.returncode}):\n'
                                    f'{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result.stdout


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp / 'src'
    shutil.copytree(ROOT, src, ignore=IGNORE, symlinks=True)
    run([
        sys.executable, '-m', 'pip', 'wheel',
        str(src), '--no-deps', '--no-build-isolation', '--disable-pip-version-check', '-q', '-w',
        str(tmp / 'dist')
    ],
        cwd=tmp)
    wheels = list((tmp / 'dist').glob('mmmoga-*.whl'))
    assert len(wheels) == 1, wheels
    return wheels[0]


def stack_site_dirs():
    """The site-packages directories this interpreter imports the stack from, in ``sys.path``
    order (a venv's own, plus the base's with ``--system-site-packages``; the user site where it is
    enabled)."""
    candidates = set(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        candidates.add(site.getusersitepackages())
    return [p for p in sys.path if p in candidates and osp.isdir(p)]


@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory):
    """A venv with the wheel installed (no deps) that imports the rest of the stack from this
    environment's site-packages. They are listed in a ``.pth`` file, so they come after the venv's
    own site-packages and their own ``.pth`` files (the checkout's editable install among them) are
    not read: ``mmmoga`` can only come from the wheel."""
    tmp = tmp_path_factory.mktemp('venv')
    run([sys.executable, '-m', 'venv', str(tmp / 'venv')], cwd=tmp)
    python = str(tmp / 'venv' / 'bin' / 'python')
    venv_site = run([python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'],
                    cwd=tmp).strip()
    with open(osp.join(venv_site, '_mmmoga_test_stack.pth'), 'w') as f:
        f.write(''.join(f'{p}\n' for p in stack_site_dirs()))
    run([
        python, '-m', 'pip', 'install', '--no-deps', '--disable-pip-version-check', '-q',
        str(wheel)
    ],
        cwd=tmp)
    outside = tmp / 'elsewhere'
    outside.mkdir()
    location = run([python, '-c', 'import mmmoga; print(mmmoga.__file__)'], cwd=outside).strip()
    assert location.startswith(venv_site), f'mmmoga imported from {location}, not the wheel'
    return python, outside


def test_wheel_ships_configs_tools_metafiles_and_model_index(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = sorted(osp.relpath(p, ROOT) for p in _files('configs', '.py'))
    missing = [
        f'mmmoga/.mim/{p}'
        for p in configs + _files_rel('tools') + _files_rel('metafiles') + ['model-index.yml']
        if f'mmmoga/.mim/{p}' not in names
    ]
    assert not missing, missing
    assert 'mmmoga/.mim/tools/train.py' in names and 'mmmoga/.mim/tools/test.py' in names


LOADED_MODULES = ('import json, sys, mmmoga; print(json.dumps('
                  'sorted(m for m in sys.modules if m.startswith("mmmoga"))))')


def _requirements(wheel):
    """The wheel's Requires-Dist: ``{None: install_requires, extra: [...]}`` (normalised names)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith('.dist-info/METADATA')))
    found = {}
    for line in meta.decode().splitlines():
        if line.startswith('Requires-Dist:'):
            extra = re.search(r'extra == "([^"]+)"', line)
            name = _norm(re.split(r'[<>=!~ ;\[]', line.split(':', 1)[1].strip())[0])
            found.setdefault(extra.group(1) if extra else None, set()).add(name)
    return found


def _distributions_imported_by(modules):
    top_level = set()
    for module in modules:
        path = osp.join(ROOT, *module.split('.'))
        path = osp.join(path, '__init__.py') if osp.isdir(path) else path + '.py'
        top_level |= _module_level_imports(path)
    dists = metadata.packages_distributions()
    return {
        _norm(dists[name][0])
        for name in top_level
        if name in dists and name != 'mmmoga' and name not in sys.stdlib_module_names
    }


def test_install_requires_is_what_the_backbones_import(wheel, tmp_path):
    """``pip install mmmoga`` (no extra) brings exactly what ``import mmmoga`` imports at module
    level where mmcv and the task libraries are missing (lazy imports inside functions are
    optional features), and no mmcv; the task parts' imports come with the extras."""
    from without_task_libraries import run_python

    from mmmoga.task_libraries import TASK_PARTS
    requirements = _requirements(wheel)
    declared = requirements[None]
    backbone_only = json.loads(run_python(LOADED_MODULES, cwd=tmp_path).splitlines()[-1])
    # a task part whose import failed half-way leaves its first submodules behind: not loaded
    backbone_only = [m for m in backbone_only if not m.startswith(tuple(TASK_PARTS))]
    assert 'mmmoga.models.backbones.moganet' in backbone_only
    assert declared == _distributions_imported_by(backbone_only)
    assert not declared & {'mmcv', 'mmdet', 'mmsegmentation', 'mmpose', 'mmpretrain'}
    full = json.loads(run_python(LOADED_MODULES, cwd=tmp_path, block=False).splitlines()[-1])
    task_parts = set(full) - set(backbone_only)
    assert 'mmmoga.models.necks.hor_fpn' in task_parts
    needed = _distributions_imported_by(task_parts) - declared
    assert needed == {'mmcv', 'mmdet', 'mmsegmentation', 'mmpretrain', 'opencv-python'}
    assert needed <= requirements['all']
    for extra, library in (('det', 'mmdet'), ('seg', 'mmsegmentation'), ('pose', 'mmpose'),
                           ('cls', 'mmpretrain')):
        assert {'mmcv', 'opencv-python', library} <= requirements[extra] <= requirements['all']


def test_mim_search_lists_every_config_with_its_paper_metric(venv):
    python, outside = venv
    out = run([python, '-m', 'mim', 'search', 'mmmoga'], cwd=outside)
    listed = dict(re.findall(r'config id: (\S+)\n(.*?)(?=\n-{10,}|\Z)', out, re.S))
    entries = {e['Name']: e for e in metafiles.load_entries(ROOT)}
    assert sorted(listed) == sorted(entries)
    for name, entry in entries.items():
        for result in entry.get('Results') or []:
            for metric, value in result['Metrics'].items():
                field = f'{result["Dataset"].lower()}/{"_".join(metric.lower().split())}'
                assert re.search(rf'^{re.escape(field)}\s+{value}\s*$', listed[name],
                                 re.M), (name, field, listed[name])


def test_installed_copy_builds_a_config(venv):
    """The installed package finds its own configs (``mmmoga/.mim/configs``) and builds the paper's
    MogaNet-S Mask R-CNN from there."""
    python, outside = venv
    code = ('import os, mmmoga; from mmengine.config import Config; '
            'from mmmoga.devtools.model_zoo import default_root, measure_params; '
            'root = default_root(); assert root.endswith(".mim"), root; '
            'print(measure_params(Config.fromfile(os.path.join(root, '
            '"configs/mask_rcnn_moganet_s.py"))))')
    params = int(run([python, '-c', code], cwd=outside).splitlines()[-1])
    entries = {e['Name']: e for e in metafiles.load_entries(ROOT)}
    assert params == entries['mask_rcnn_moganet_s']['Metadata']['Parameters']


def test_mim_train_and_test_run_the_toy_config_from_the_wheel(venv):
    """``mim train mmmoga <toy config>`` finds the config and tools/train.py in the installed
    package and trains two iterations on 8 toy images (validating on 4); ``mim test`` then
    evaluates the checkpoint with the installed tools/test.py."""
    python, outside = venv
    tools = run([
        python, '-c', 'import mmmoga, os; print(os.path.join(os.path.dirname('
        'mmmoga.__file__), ".mim", "tools"))'
    ],
                cwd=outside).strip()
    run([python, osp.join(tools, 'misc', 'make_toy_data.py'), '--tasks', 'coco'], cwd=outside)
    small = [
        'train_dataloader.dataset.indices=8', 'val_dataloader.dataset.indices=4',
        'test_dataloader.dataset.indices=4'
    ]
    out = run([
        python, '-m', 'mim', 'train', 'mmmoga', 'mask_rcnn_moganet_xt_toy.py', '--work-dir', 'wd',
        '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.logger.interval=1', *small
    ],
              cwd=outside,
              timeout=600)
    assert osp.join(tools, 'train.py') in out  # mim ran the installed copy's tools/train.py
    assert (outside / 'wd' / 'epoch_1.pth').is_file()
    records = [
        json.loads(line) for log in (outside / 'wd').glob('*/vis_data/scalars.json')
        for line in open(log)
    ]
    assert any('loss' in r for r in records) and any('coco/bbox_mAP' in r for r in records)
    out = run([
        python, '-m', 'mim', 'test', 'mmmoga', 'mask_rcnn_moganet_xt_toy.py', '--checkpoint',
        'wd/epoch_1.pth', '--work-dir', 'wd_test', '--out-json', 'metrics.json', '--cfg-options',
        *small
    ],
              cwd=outside,
              timeout=600)
    assert osp.join(tools, 'test.py') in out
    metrics = json.load(open(outside / 'metrics.json'))
    assert 'coco/bbox_mAP' in metrics and 'coco/segm_mAP' in metrics


# ----------------------------------------------------------------------------------- helpers
def _files(folder, ext=''):
    return [
        osp.join(d, f) for d, _, fs in os.walk(osp.join(ROOT, folder)) for f in fs
        if f.endswith(ext) and '__pycache__' not in d
    ]


def _files_rel(folder):
    return sorted(osp.relpath(p, ROOT) for p in _files(folder) if not p.endswith('.pyc'))


def _norm(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def _module_level_imports(path):
    """Top-level names imported outside functions (module body, class bodies, try/if blocks)."""
    names = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.Import):
                names.update(a.name.split('.')[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split('.')[0])
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            else:
                visit(
                    getattr(node, 'body', []) + getattr(node, 'orelse', []) +
                    getattr(node, 'finalbody', []) + [h for h in getattr(node, 'handlers', [])])

    visit(ast.parse(open(path).read()).body)
    return names


def test_metafile_copies_match(wheel):
    """The shipped metafiles are the checkout's (copied at build time, not stale)."""
    with zipfile.ZipFile(wheel) as zf:
        shipped = yaml.safe_load(zf.read('mmmoga/.mim/metafiles/moganet.yml'))
    with open(osp.join(ROOT, 'metafiles', 'moganet.yml')) as f:
        assert shipped == yaml.safe_load(f)
