"""``tools/setup_env.py``'s mmcv step decides from the torch build and the GPUs it sees: the CPU
ops, or the CUDA ops for the visible GPUs' architectures with an nvcc of torch's CUDA, checked on
CUDA tensors after the install. The decisions are tested with the CUDA facts, the file system, the
nvcc and the subprocesses simulated: no GPU, no build, no network."""
import json
import os
import os.path as osp
import subprocess
from types import SimpleNamespace

import pytest
from tool_scripts import load_tool

TORCH = '2.13.0+cu130'
NVCC_13_0 = 'Cuda compilation tools, release 13.0, V13.0.88\nBuild cuda_13.0.r13.0/compiler'
SITE = '/venv/lib/python3.11/site-packages'
WHEEL_HOME = f'{SITE}/nvidia/cu13'


@pytest.fixture
def setup_env(tmp_path, monkeypatch):
    """The module of ``tools/setup_env.py``, caching under ``tmp_path``."""
    monkeypatch.setenv('MMMOGA_CACHE', str(tmp_path / 'cache'))
    return load_tool('tools/setup_env.py')


def cpu_machine(setup_env, torch_cuda='13.0'):
    return setup_env.CudaFacts(TORCH, cuda_available=False, torch_cuda=torch_cuda)


def gpu_machine(setup_env, *capabilities, torch_cuda='13.0'):
    return setup_env.CudaFacts(TORCH, True, torch_cuda, capabilities or ((8, 0), (9, 0), (9, 0)))


def on_path(nvcc=None):
    """``which`` of a machine with ``c++`` (and ``nvcc``, if given) on PATH."""
    return {'c++': '/usr/bin/c++', 'nvcc': nvcc}.get


def headers(home):
    return [f'{home}/bin/nvcc', f'{home}/include/cuda_runtime_api.h', f'{home}/lib64/libcudart.so']


def plan(setup_env, facts, environ=None, nvcc_text=NVCC_13_0, files=(), which=None, **kwargs):
    """``mmcv_build_plan`` on a machine holding ``files``, whose nvcc prints ``nvcc_text``."""
    return setup_env.mmcv_build_plan(
        facts,
        environ or {},
        which=which or on_path(),
        exists=set(files).__contains__,
        realpath=lambda path: path,
        read_nvcc=lambda path: nvcc_text,
        site_packages=SITE,
        **kwargs)


def nowhere(*args):
    raise AssertionError(f'looked up {args} on a CPU build')


def test_cpu_machine_builds_the_cpu_ops(setup_env):
    facts = cpu_machine(setup_env)
    build = setup_env.mmcv_build_plan(facts, {}, which=nowhere, exists=nowhere, read_nvcc=nowhere)
    assert build.error is None and not build.cuda and not build.wheels
    assert build.env == {'MMCV_WITH_OPS': '1', 'MAX_JOBS': '2'}
    assert setup_env.mmcv_wheel_key(facts, {}) == f'mmcv-2.1.0-torch{TORCH}-cpu'
    # a CPU build of torch is a CPU machine even where a GPU is present
    no_cuda_torch = setup_env.CudaFacts('2.13.0+cpu', True, None, ((9, 0), ))
    assert not setup_env.mmcv_build_plan(no_cuda_torch, {}, which=nowhere).cuda
    assert setup_env.mmcv_wheel_key(no_cuda_torch, {}) == 'mmcv-2.1.0-torch2.13.0+cpu-cpu'


def test_gpu_machine_builds_the_cuda_ops_for_its_gpus(setup_env):
    facts = gpu_machine(setup_env, (9, 0), (8, 0), (9, 0))
    build = plan(setup_env, facts, {'CUDA_HOME': '/opt/cuda-13.0'}, files=headers('/opt/cuda-13.0'))
    assert build.error is None and build.cuda
    assert build.env == {
        'MMCV_WITH_OPS': '1',
        'MAX_JOBS': '2',
        'FORCE_CUDA': '1',
        'TORCH_CUDA_ARCH_LIST': '8.0;9.0',
        'CUDA_HOME': '/opt/cuda-13.0'
    }
    assert setup_env.mmcv_wheel_key(facts, {}) == f'mmcv-2.1.0-torch{TORCH}-cu13.0-sm80_90'
    assert setup_env.mmcv_wheel_key(gpu_machine(setup_env, (8, 6)),
                                    {}) == f'mmcv-2.1.0-torch{TORCH}-cu13.0-sm86'
    assert any('8.0;9.0' in note and '$CUDA_HOME' in note for note in build.notes)


def test_user_arch_list_wins(setup_env):
    facts = gpu_machine(setup_env, (8, 0), (9, 0))
    environ = {'TORCH_CUDA_ARCH_LIST': '8.6+PTX', 'CUDA_HOME': '/opt/cuda'}
    build = plan(setup_env, facts, environ, files=headers('/opt/cuda'))
    assert build.env['TORCH_CUDA_ARCH_LIST'] == '8.6+PTX'
    assert setup_env.mmcv_wheel_key(facts, environ) == f'mmcv-2.1.0-torch{TORCH}-cu13.0-sm86ptx'
    assert any('TORCH_CUDA_ARCH_LIST=8.6+PTX is yours' in n and '8.0;9.0' in n for n in build.notes)
    # `native` means the visible GPUs, as for torch
    native = dict(TORCH_CUDA_ARCH_LIST='native', CUDA_HOME='/opt/cuda')
    assert plan(setup_env, facts, native, files=headers('/opt/cuda')).env['TORCH_CUDA_ARCH_LIST'] \
        == '8.0;9.0'


@pytest.mark.parametrize(
    'environ, files, nvcc, cuda_home, source',
    [
        # $CUDA_HOME, then $CUDA_PATH, first
        (dict(CUDA_HOME='/opt/a', CUDA_PATH='/opt/b'), headers('/opt/a') + headers('/opt/b'),
         '/usr/local/cuda/bin/nvcc', '/opt/a', '$CUDA_HOME'),
        (dict(CUDA_HOME='/opt/empty',
              CUDA_PATH='/opt/b'), headers('/opt/b'), None, '/opt/b', '$CUDA_PATH'),
        # then nvcc on PATH, in a toolkit with headers
        ({}, headers('/opt/cuda-13.0') + headers('/usr/local/cuda'), '/opt/cuda-13.0/bin/nvcc',
         '/opt/cuda-13.0', 'PATH (/opt/cuda-13.0/bin/nvcc)'),
        # a wrapper script on PATH (no headers next to it): /usr/local/cuda
        ({}, ['/usr/local/bin/nvcc'] + headers('/usr/local/cuda'), '/usr/local/bin/nvcc',
         '/usr/local/cuda', '/usr/local/cuda'),
        # an installed nvcc wheel last
        ({}, headers(WHEEL_HOME), None, WHEEL_HOME, 'the nvcc wheel'),
    ])
def test_nvcc_sources_in_order(setup_env, environ, files, nvcc, cuda_home, source):
    build = plan(setup_env, gpu_machine(setup_env), environ, files=files, which=on_path(nvcc))
    assert build.error is None and not build.wheels
    assert build.env['CUDA_HOME'] == cuda_home
    assert any(f'from {source} (CUDA_HOME={cuda_home})' in note for note in build.notes)


def test_nvcc_on_path_through_a_link(setup_env):
    nvcc, found = setup_env.find_nvcc({}, {'nvcc': '/usr/bin/nvcc'}.get,
                                      set(headers('/opt/cuda-13.0')).__contains__,
                                      {'/usr/bin/nvcc': '/opt/cuda-13.0/bin/nvcc'}.get)
    assert (nvcc.path, nvcc.cuda_home) == ('/opt/cuda-13.0/bin/nvcc', '/opt/cuda-13.0')
    assert found == []


def test_no_nvcc_on_cuda_13_installs_the_nvcc_wheel(setup_env):
    facts = gpu_machine(setup_env)
    build = plan(setup_env, facts)
    assert build.error is None
    assert build.wheels == [
        'nvidia-cuda-nvcc==13.0.*', 'nvidia-nvvm==13.0.*', 'nvidia-cuda-crt==13.0.*',
        'nvidia-cuda-cccl==13.0.*'
    ]
    # once installed, its toolkit (with only the versioned libcudart) builds
    wheel_files = [f'{WHEEL_HOME}/bin/nvcc', f'{WHEEL_HOME}/lib/libcudart.so.13']
    built = plan(setup_env, facts, files=wheel_files, install_wheels=False)
    assert built.error is None and not built.wheels
    assert built.env['CUDA_HOME'] == WHEEL_HOME
    assert built.cudart == f'{WHEEL_HOME}/lib/libcudart.so.13'
    assert built.env['LIBRARY_PATH'] == setup_env.CUDART_LINK_DIR
    # installed, but no nvcc where the wheel puts it
    missing = plan(setup_env, facts, install_wheels=False)
    assert f'{WHEEL_HOME}/bin/nvcc is missing' in missing.error
    assert 'pip install "nvidia-cuda-nvcc==13.0.*"' in missing.error


def test_no_nvcc_on_cuda_12_stops_with_the_fix(setup_env):
    build = plan(setup_env, gpu_machine(setup_env, torch_cuda='12.4'), {'CUDA_HOME': '/opt/none'})
    assert not build.wheels and not build.env.get('FORCE_CUDA')
    assert build.error.startswith('[setup_env] ')
    for words in ('nvcc from CUDA 12.4', '$CUDA_HOME=/opt/none (no bin/nvcc)',
                  'nvcc on PATH (none)', '/usr/local/cuda/bin/nvcc (missing)',
                  'no nvcc for CUDA 12', 'install the CUDA toolkit 12.4 and set CUDA_HOME',
                  '--cpu-only-mmcv'):
        assert words in build.error


def test_no_compiler_stops(setup_env):
    cuda = headers('/usr/local/cuda')
    build = plan(setup_env, gpu_machine(setup_env), files=cuda, which={'nvcc': cuda[0]}.get)
    assert 'no C++ compiler: `c++`' in build.error and 'apt-get install g++' in build.error


@pytest.mark.parametrize('text, version', [(NVCC_13_0, '13.0'),
                                           ('nvcc: ...\nrelease 12.4, V12.4.131', '12.4'),
                                           ('bash: nvcc: command not found', None), ('', None)])
def test_nvcc_version(setup_env, text, version):
    assert setup_env.nvcc_version(text) == version


def test_nvcc_of_another_cuda_major_stops(setup_env):
    cuda = headers('/usr/local/cuda')
    build = plan(setup_env, gpu_machine(setup_env), nvcc_text='release 12.4, V12.4', files=cuda)
    assert not build.env.get('FORCE_CUDA')
    for words in ('/usr/local/cuda/bin/nvcc', 'is CUDA 12.4', f'torch {TORCH} is built with CUDA '
                  '13.0', 'set CUDA_HOME to a CUDA 13.0 toolkit', 'pip install "nvidia-cuda-nvcc'):
        assert words in build.error
    # another minor version only warns, as torch.utils.cpp_extension does
    minor = plan(setup_env, gpu_machine(setup_env), nvcc_text='release 13.2, V13.2', files=cuda)
    assert minor.error is None and minor.env['FORCE_CUDA'] == '1'
    assert any(n.startswith('warning: nvcc is CUDA 13.2') for n in minor.notes)
    unreadable = plan(setup_env, gpu_machine(setup_env), nvcc_text='', files=cuda)
    assert 'does not run or prints no CUDA version' in unreadable.error


def test_cpu_only_mmcv_on_a_gpu_machine(setup_env):
    facts = gpu_machine(setup_env)
    build = setup_env.mmcv_build_plan(facts, {}, cpu_only=True, which=nowhere, exists=nowhere)
    assert build.error is None and not build.cuda
    # mmcv's setup.py compiles CUDA ops whenever torch sees a GPU: the build must not see one
    assert build.env['CUDA_VISIBLE_DEVICES'] == '' and build.env['FORCE_CUDA'] == '0'
    assert setup_env.mmcv_wheel_key(facts, {}, cpu_only=True) == f'mmcv-2.1.0-torch{TORCH}-cpu'


def ran(returncode=0, stdout='', stderr=''):
    return SimpleNamespace(returncode=returncode, stdout=stdout, stderr=stderr)


def test_cuda_op_check_result(setup_env):
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        return ran(stdout='noise\n[]\n')

    assert setup_env.check_cuda_ops(run) is None
    assert 'RoIAlign' in calls[0][-1] and 'nms' in calls[0][-1]
    failed = [
        'RoIAlign on CUDA tensors: RuntimeError: roi_align_forward_impl: implementation for '
        'device cuda:0 not found.', 'nms on CUDA tensors differs from the CPU result'
    ]
    assert setup_env.check_cuda_ops(lambda *a, **k: ran(stdout=json.dumps(failed))) == \
        '; '.join(failed)
    crashed = ran(1, stderr="Traceback ...\nModuleNotFoundError: No module named 'mmcv._ext'\n")
    assert setup_env.check_cuda_ops(lambda *a, **k: crashed) == \
        "the check did not run: ModuleNotFoundError: No module named 'mmcv._ext'"


class Machine:
    """``subprocess.run`` of the mmcv step: pip installs, ``pip wheel`` (writes a wheel), ``nvcc
    --version`` and the CUDA op check (answers from ``checks``), each recorded."""

    def __init__(self, checks=(), offline=False):
        self.checks, self.offline, self.calls, self.builds = list(checks), offline, [], []

    def __call__(self, cmd, **kwargs):
        self.calls.append(cmd)
        if self.offline and any(c.startswith('nvidia-') for c in cmd):
            raise subprocess.CalledProcessError(1, cmd)
        if cmd[-1] == '--version':
            return ran(stdout=NVCC_13_0)
        if self.is_check(cmd):
            return ran(stdout=json.dumps(self.checks.pop(0)))
        if 'wheel' in cmd:
            self.builds.append(kwargs['env'])
            wheel_dir = cmd[cmd.index('-w') + 1]
            open(osp.join(wheel_dir, 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl'), 'w').close()
        return ran()

    @staticmethod
    def is_check(cmd):
        return cmd[1] == '-c'  # python -c <the check>

    def installed(self):
        return [c[-1] for c in self.calls if 'install' in c and c[-1].endswith('.whl')]


@pytest.fixture
def step(setup_env, monkeypatch, tmp_path):
    """Runs ``step_mmcv`` on a simulated machine: ``step(facts, machine, mmcv_installed)``, with
    a CUDA 13.0 toolkit in $CUDA_HOME."""
    home = tmp_path / 'cuda'
    for f in headers(str(home)):
        os.makedirs(osp.dirname(f), exist_ok=True)
        open(f, 'w').close()
    monkeypatch.setenv('CUDA_HOME', str(home))
    for var in ('TORCH_CUDA_ARCH_LIST', 'FORCE_CUDA', 'CUDA_VISIBLE_DEVICES'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(setup_env.shutil, 'which', {'c++': '/usr/bin/c++'}.get)

    def run_step(facts, machine, mmcv_installed=False, cpu_only=False):
        monkeypatch.setattr(setup_env, 'cuda_facts', lambda: facts)
        monkeypatch.setattr(setup_env, 'version_ok', lambda dist: mmcv_installed)
        monkeypatch.setattr(setup_env, '_probed', {'mmcv': mmcv_installed})
        monkeypatch.setattr(subprocess, 'run', machine)
        return setup_env.step_mmcv(cpu_only=cpu_only)

    return run_step


def test_step_builds_cuda_ops_and_checks_them(setup_env, step, tmp_path):
    machine = Machine(checks=[[]])
    assert step(gpu_machine(setup_env), machine) is True
    (env, ) = machine.builds
    assert (env['FORCE_CUDA'], env['TORCH_CUDA_ARCH_LIST']) == ('1', '8.0;9.0')
    assert env['CUDA_HOME'] == str(tmp_path / 'cuda')
    key = f'mmcv-2.1.0-torch{TORCH}-cu13.0-sm80_90'
    assert machine.installed() == [
        str(tmp_path / 'cache' / 'wheels' / key / 'mmcv-2.1.0-cp311-cp311-linux_x86_64.whl')
    ]
    assert machine.checks == []  # checked after the install


def test_step_stops_when_the_cuda_ops_fail(setup_env, step, tmp_path):
    failure = 'RoIAlign on CUDA tensors: RuntimeError: no kernel image is available'
    with pytest.raises(SystemExit) as stop:
        step(gpu_machine(setup_env), Machine(checks=[[failure]]))
    message = str(stop.value.code)
    wheel_dir = str(tmp_path / 'cache' / 'wheels' / f'mmcv-2.1.0-torch{TORCH}-cu13.0-sm80_90')
    assert message.startswith('[setup_env] ') and failure in message
    assert f'remove {wheel_dir}' in message and 'TORCH_CUDA_ARCH_LIST' in message
    assert '--cpu-only-mmcv' in message


def test_step_rebuilds_an_installed_mmcv_without_cuda_ops(setup_env, step):
    cpu_ops = ['RoIAlign on CUDA tensors: RuntimeError: implementation for device cuda:0 not found']
    machine = Machine(checks=[cpu_ops, []])
    assert step(gpu_machine(setup_env), machine, mmcv_installed=True) is True
    assert len(machine.builds) == 1 and machine.builds[0]['FORCE_CUDA'] == '1'
    # with working CUDA ops, the installed mmcv stays
    kept = Machine(checks=[[]])
    assert step(gpu_machine(setup_env), kept, mmcv_installed=True) is False
    assert len(kept.calls) == 1  # the check only


def test_step_on_a_cpu_machine_checks_no_cuda_ops(setup_env, step):
    machine = Machine()
    assert step(cpu_machine(setup_env), machine) is True
    (env, ) = machine.builds
    assert env['MMCV_WITH_OPS'] == '1' and env['MAX_JOBS'] == os.environ.get('MAX_JOBS', '2')
    assert not {'FORCE_CUDA', 'TORCH_CUDA_ARCH_LIST', 'CUDA_VISIBLE_DEVICES'} & set(env)
    assert f'torch{TORCH}-cpu' in machine.installed()[0]
    assert not any(map(Machine.is_check, machine.calls))
    assert step(cpu_machine(setup_env), Machine(), mmcv_installed=True) is False


def test_step_cpu_only_mmcv_warns(setup_env, step, capsys):
    machine = Machine()
    assert step(gpu_machine(setup_env), machine, cpu_only=True) is True
    (env, ) = machine.builds
    assert env['CUDA_VISIBLE_DEVICES'] == '' and env['FORCE_CUDA'] == '0'
    assert f'torch{TORCH}-cpu' in machine.installed()[0]
    assert not any(map(Machine.is_check, machine.calls))
    assert 'warning: --cpu-only-mmcv: torch sees a GPU' in capsys.readouterr().out


def test_cpu_only_mmcv_flag(setup_env, monkeypatch):
    seen = []
    monkeypatch.setattr(setup_env, 'probe', lambda: setup_env._probed.update(mmcv=True))
    for name in ('step_torch', 'step_build_tools', 'step_mmengine', 'step_task_libraries',
                 'step_mmpose', 'step_mim', 'step_mmmoga'):
        monkeypatch.setattr(setup_env, name, lambda **kwargs: False)
    monkeypatch.setattr(setup_env, 'step_mmcv', lambda cpu_only: seen.append(cpu_only))
    for argv, cpu_only in ((['--cpu-only-mmcv'], True), ([], False)):
        monkeypatch.setattr('sys.argv', ['tools/setup_env.py', *argv])
        setup_env.main()
        assert seen.pop() is cpu_only


def test_step_installs_the_nvcc_wheel_or_stops(setup_env, step, monkeypatch):
    """No toolkit on a CUDA 13 machine: the nvcc wheels are installed; where pip cannot, it
    stops with the fix."""
    plan = setup_env.mmcv_build_plan
    monkeypatch.delenv('CUDA_HOME')
    monkeypatch.setattr(setup_env, 'mmcv_build_plan',
                        lambda *args, **kwargs: plan(*args, exists=lambda path: False, **kwargs))
    machine = Machine(offline=True)
    with pytest.raises(SystemExit) as stop:
        step(gpu_machine(setup_env), machine)
    assert machine.calls[-1][-4:] == [
        'nvidia-cuda-nvcc==13.0.*', 'nvidia-nvvm==13.0.*', 'nvidia-cuda-crt==13.0.*',
        'nvidia-cuda-cccl==13.0.*'
    ]
    message = str(stop.value.code)
    assert '`pip install "nvidia-cuda-nvcc==13.0.*"' in message and 'failed' in message
    assert 'nvcc on PATH (none)' in message and 'install the CUDA toolkit 13.0' in message
    assert machine.builds == []
    # installed, but no nvcc where the wheel puts it: stops too, before building
    machine = Machine()
    with pytest.raises(SystemExit) as stop:
        step(gpu_machine(setup_env), machine)
    assert 'bin/nvcc is missing after installing the wheels' in str(stop.value.code)
    assert machine.builds == []


def test_the_forks_mmcv_wheel_is_cached_apart(setup_env):
    facts = cpu_machine(setup_env)
    assert setup_env.mmcv_wheel_key(facts, {}) == f'mmcv-2.1.0-torch{TORCH}-cpu'
    assert setup_env.mmcv_wheel_key(facts, {}, dist='onedl-mmcv') == \
        f'onedl-mmcv-2.3.6-torch{TORCH}-cpu'


def test_one_environment_holds_one_stack(setup_env, monkeypatch):
    """The forks share the upstream import names: ``--stack onedl`` stops where upstream packages
    are installed, the default where the forks are, naming them, before installing anything."""
    monkeypatch.setattr(setup_env, 'stack', setup_env.stack)  # main() sets it
    monkeypatch.setattr(setup_env, 'pip', lambda *args, **kwargs: pytest.fail('pip ran'))
    upstream = {'mmengine', 'mmcv', 'mmdet', 'mmsegmentation'}
    forks = {'onedl-mmengine', 'onedl-mmcv', 'onedl-mmpretrain'}
    for present, argv, named in ((upstream, ['--stack', 'onedl'], 'mmengine, mmcv, mmdet, '
                                  'mmsegmentation, of the other stack than --stack onedl'),
                                 (forks, [], 'onedl-mmengine, onedl-mmcv, onedl-mmpretrain, of '
                                  'the other stack than --stack upstream')):
        monkeypatch.setattr(
            setup_env, 'installed', lambda d, present=present: '1' if d in present else None)
        monkeypatch.setattr('sys.argv', ['tools/setup_env.py', *argv])
        with pytest.raises(SystemExit) as stop:
            setup_env.main()
        assert f'this environment has {named}' in str(stop.value)
        assert 'use a fresh venv' in str(stop.value)
    # control: the stack that is there goes on (to the probe, here stopped)

    def probe():
        raise RuntimeError('probed')

    monkeypatch.setattr(setup_env, 'probe', probe)
    monkeypatch.setattr('sys.argv', ['tools/setup_env.py', '--stack', 'onedl'])
    with pytest.raises(RuntimeError, match='probed'):
        setup_env.main()
