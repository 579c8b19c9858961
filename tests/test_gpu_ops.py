"""The GPU kernels (:mod:`mmmoga.models.layers.gpu_ops`) against the plain PyTorch ops, outputs and
gradients, at small odd shapes. Without a GPU they run in Triton's interpreter on CPU tensors
(``tests/conftest.py`` sets ``TRITON_INTERPRET=1`` before Triton is imported); with one, compiled,
on CUDA tensors. Counters on the kernels prove which path ran, and each fallback (switch off,
tracing, other convs and dtypes) is checked to leave the work to PyTorch."""
import importlib

import pytest
import torch
import torch.nn.functional as F
from small_models import TINY_BACKBONES
from torch import nn

from mmmoga.devtools.benchmark.kernel_check import (check_kernel_case, counting_launches,
                                                    kernel_cases)
from mmmoga.models.layers import (depthwise_conv2d, gpu_kernels, gpu_kernels_enabled, gpu_ops,
                                  silu_product)
from numeric_fixtures import relative_error

pytest.importorskip('triton')
KERNELS = importlib.import_module('mmmoga.models.layers.triton_kernels')
#: where the kernels run in this session: CPU tensors under the interpreter, else CUDA
DEVICE = 'cpu' if KERNELS.INTERPRETED else 'cuda'
pytestmark = pytest.mark.skipif(
    DEVICE == 'cuda' and not torch.cuda.is_available(),
    reason='Triton compiled for a GPU, and none here: run with TRITON_INTERPRET=1')


@pytest.fixture(autouse=True)
def on_kernel_device():
    """Tensors and modules of each test are made where the kernels run."""
    with torch.device(DEVICE):
        yield


@pytest.fixture
def launches():
    """Counts the launches of each kernel (the control of which path ran)."""
    with counting_launches() as counts:
        yield counts


def dw_conv(channels, kernel, dilation=(1, 1), bias=True):
    torch.manual_seed(0)
    padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    conv = nn.Conv2d(
        channels, channels, kernel, padding=padding, dilation=dilation, groups=channels, bias=bias)
    with torch.no_grad():
        if bias:
            conv.bias.normal_()
    return conv


# every case of the GPU check at one tile, and the dilated 7x7 and the SiLU product at several
# tiles of width and channels (and several rows), each in fp32, fp16 and bf16, forward and backward
KERNEL_CASES = kernel_cases('smoke') + [
    case for case in kernel_cases('interpreter')
    if case.get('conv') == '7x7_d3' or case['op'] == 'silu_product'
]


@pytest.mark.parametrize(
    'case',
    KERNEL_CASES,
    ids=[f'{c["name"]}-{"x".join(map(str, c["shape"]))}' for c in KERNEL_CASES])
def test_kernel_case_matches_float64_pytorch(case):
    """Outputs and gradients against float64 PyTorch from the same inputs, within the dtype's
    tolerance; every kernel launched (no silent fallback) and in the case's dtype (the cases and
    their verdict are the GPU check's, :mod:`mmmoga.devtools.benchmark.kernel_check`)."""
    verdict = check_kernel_case(case, DEVICE)
    assert verdict['ok'], verdict['problems']
    assert all(error < verdict['tolerance'] for error in verdict['errors'].values())
    assert sum(verdict['launches'].values()) >= 2


def test_a_kernel_case_fails_when_a_kernel_falls_back(monkeypatch):
    """Control: a case whose kernel silently gave way to the plain ops fails."""
    case = kernel_cases('smoke')[0]
    monkeypatch.setattr(gpu_ops, '_is_same_depthwise', lambda conv: False)
    verdict = check_kernel_case(case, DEVICE)
    assert not verdict['ok'] and 'launches {}' in verdict['problems'][0]


def test_depthwise_kernel_under_bf16_autocast_takes_the_autocast_dtype(launches):
    conv = dw_conv(6, (7, 7), (3, 3))
    x = torch.randn(1, 6, 11, 10).contiguous(memory_format=torch.channels_last)
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        plain = conv(x)
        with gpu_kernels(True):
            ours = depthwise_conv2d(x, conv)
    assert launches == {'depthwise_conv_kernel': 1}
    assert ours.dtype == plain.dtype == torch.bfloat16
    assert relative_error([ours], [plain]) < 2e-2


def test_depthwise_fallbacks_leave_the_work_to_pytorch(launches):
    x = torch.randn(1, 4, 8, 8)
    same = dw_conv(4, (7, 7))
    not_same = [
        nn.Conv2d(4, 4, 3, padding=0, groups=4),  # shrinks the map
        nn.Conv2d(4, 4, 3, padding=1, stride=2, groups=4),
        nn.Conv2d(4, 8, 3, padding=1, groups=4),  # depth multiplier 2
        nn.Conv2d(4, 4, 3, padding=1),  # dense
        nn.Conv2d(4, 4, 4, padding='same', groups=4),
    ]
    for conv in not_same:
        with gpu_kernels(True):
            torch.testing.assert_close(depthwise_conv2d(x, conv), conv(x))
    with gpu_kernels(False):
        torch.testing.assert_close(depthwise_conv2d(x, same), same(x))

    class Wrapped(nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = same

        def forward(self, t):
            return depthwise_conv2d(t, self.conv)

    with gpu_kernels(True), torch.no_grad():
        traced = torch.jit.trace(Wrapped(), x, check_trace=False)
        torch.testing.assert_close(
            depthwise_conv2d(x.double(), same.double()),
            same.double()(x.double()))  # fp64 is left to PyTorch
    assert launches == {}
    assert 'aten::_convolution' in str(traced.inlined_graph)


@pytest.mark.parametrize(
    'memory_format', [torch.contiguous_format, torch.channels_last], ids=['ch-first', 'ch-last'])
def test_silu_product_matches_the_plain_ops(memory_format, launches):
    torch.manual_seed(0)
    a = (3 * torch.randn(2, 5, 7, 9)).contiguous(memory_format=memory_format).requires_grad_()
    b = (3 * torch.randn(2, 5, 7, 9)).contiguous(memory_format=memory_format).requires_grad_()
    with gpu_kernels(True):
        out = silu_product(a, b)
    grad = torch.randn(2, 5, 7, 9)  # a contiguous gradient, also for a channels-last product
    out.backward(grad)
    assert launches == {'silu_product_kernel': 1, 'silu_product_grad_kernel': 1}
    assert out.is_contiguous(memory_format=memory_format)
    ref_a, ref_b = (t.detach().double().requires_grad_() for t in (a, b))
    ref = F.silu(ref_a) * F.silu(ref_b)
    ref.backward(grad.double())
    for ours, theirs in ((out, ref), (a.grad, ref_a.grad), (b.grad, ref_b.grad)):
        assert relative_error([ours], [theirs]) < 1e-6
    # mixed layouts fall back
    with gpu_kernels(True):
        mixed = silu_product(
            a.detach(),
            b.detach().contiguous(memory_format=torch.channels_last if memory_format ==
                                  torch.contiguous_format else torch.contiguous_format))
    torch.testing.assert_close(mixed, out.detach())
    assert launches == {'silu_product_kernel': 1, 'silu_product_grad_kernel': 1}


def test_the_switch_and_its_environment_variable(monkeypatch):
    monkeypatch.delenv('MMMOGA_GPU_KERNELS', raising=False)
    assert not gpu_kernels_enabled()  # off until measured on a GPU
    monkeypatch.setenv('MMMOGA_GPU_KERNELS', '1')
    assert gpu_kernels_enabled()
    with gpu_kernels(False):
        assert not gpu_kernels_enabled()
    monkeypatch.setenv('MMMOGA_GPU_KERNELS', 'off')
    assert not gpu_kernels_enabled()


def test_without_interpreter_the_kernels_do_not_take_cpu_tensors(monkeypatch):
    """Outside the interpreter the kernels are for CUDA tensors only: CPU tensors take the plain
    ops even with the switch on."""
    fake = type('Compiled', (), {'INTERPRETED': False})
    monkeypatch.setattr(gpu_ops, '_kernels', lambda: fake)
    conv = dw_conv(4, (5, 5), (2, 2)).cpu()
    x = torch.randn(1, 4, 9, 9, device='cpu')
    with gpu_kernels(True):
        torch.testing.assert_close(depthwise_conv2d(x, conv), conv(x))
        a = torch.randn(3, 4, device='cpu')
        torch.testing.assert_close(silu_product(a, a), F.silu(a) * F.silu(a))


@pytest.mark.parametrize('family', ['moganet', 'hornet-7x7', 'conv2former'])
def test_whole_backbones_equal_with_the_kernels_on_and_off(family, launches):
    """The same outputs and parameter gradients with the kernels on as with the plain ops
    (channels-last, as the models run by default), and the kernels really ran."""
    torch.manual_seed(0)
    model = TINY_BACKBONES[family](channels_last=True).train()
    x = torch.randn(2, 3, 32, 32)

    def run():
        model.zero_grad(set_to_none=True)
        outs = model(x)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        return [o.detach() for o in outs], [p.grad.clone() for p in model.parameters()]

    with gpu_kernels(False):
        plain_outs, plain_grads = run()
    assert launches == {}
    with gpu_kernels(True):
        outs, grads = run()
    assert launches.get('depthwise_conv_kernel', 0) > 0
    assert launches.get('depthwise_conv_weight_grad_kernel', 0) > 0
    if family == 'moganet':
        assert launches.get('silu_product_grad_kernel', 0) > 0
    assert relative_error(outs, plain_outs) < 1e-5
    for a, b in zip(grads, plain_grads):  # biases in front of a BN have an all-zero gradient
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


# ------------------------------------------------------------------------------------- robustness
@pytest.fixture
def fresh_kernels(monkeypatch):
    """The kernels module as if not yet imported, and no failure recorded (both restored after)."""
    monkeypatch.setattr(gpu_ops, '_module', None)
    monkeypatch.setattr(gpu_ops, '_failure', None)
    return monkeypatch


def unimported(monkeypatch):
    """The kernels module as if never imported (the next use imports it again)."""
    import sys

    from mmmoga.models import layers
    monkeypatch.delitem(sys.modules, 'mmmoga.models.layers.triton_kernels', raising=False)
    monkeypatch.delattr(layers, 'triton_kernels', raising=False)


def _plain_and_kernel_outputs(conv, x):
    with gpu_kernels(False):
        plain = conv(x)
    with gpu_kernels(True):
        ours = depthwise_conv2d(x, conv)
    return plain, ours


def test_a_triton_without_what_the_kernels_use_leaves_the_plain_ops_with_one_warning(fresh_kernels):
    """An older or broken Triton (here: no ``triton.jit``, an AttributeError at import) switches
    the kernels off for the process with one warning naming the cause; the plain ops run."""
    import sys
    import types
    old = types.ModuleType('triton')
    old.language = types.ModuleType('triton.language')
    fresh_kernels.setitem(sys.modules, 'triton', old)
    fresh_kernels.setitem(sys.modules, 'triton.language', old.language)
    unimported(fresh_kernels)
    conv = dw_conv(4, (7, 7), (3, 3))
    x = torch.randn(1, 4, 9, 9)
    with pytest.warns(gpu_ops.GpuKernelWarning, match='AttributeError.*jit'):
        plain, ours = _plain_and_kernel_outputs(conv, x)
    torch.testing.assert_close(ours, plain, rtol=0, atol=0)
    assert 'importing Triton failed' in gpu_ops.gpu_kernels_failure()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # one warning per process, not one per call
        torch.testing.assert_close(depthwise_conv2d(x, conv), plain)


def test_no_triton_at_all_is_silent(fresh_kernels):
    import sys
    import warnings
    fresh_kernels.setitem(sys.modules, 'triton', None)  # import triton -> ModuleNotFoundError
    unimported(fresh_kernels)
    conv = dw_conv(4, (5, 5))
    x = torch.randn(1, 4, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        plain, ours = _plain_and_kernel_outputs(conv, x)
    torch.testing.assert_close(ours, plain, rtol=0, atol=0)
    assert gpu_ops.gpu_kernels_failure() is None


def test_an_older_triton_without_knobs_reads_the_interpreter_variable(monkeypatch):
    """Triton before 3.4 has no ``triton.knobs``: whether the kernels are interpreted comes from
    ``TRITON_INTERPRET`` (control: the variable off)."""
    import importlib.util

    import triton
    monkeypatch.delattr(triton, 'knobs', raising=False)
    for value, expected in (('1', True), ('0', False)):
        monkeypatch.setenv('TRITON_INTERPRET', value)
        spec = importlib.util.spec_from_file_location('old_triton_kernels', KERNELS.__file__)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.INTERPRETED is expected


class Failing:
    """A kernel whose launch fails, as a compile error does."""

    def __init__(self):
        self.calls = 0

    def __getitem__(self, grid):

        def launch(*args, **kwargs):
            self.calls += 1
            raise RuntimeError('simulated compile error\nPassManager::run failed')

        return launch


@pytest.mark.parametrize('failing', [
    'depthwise_conv_kernel', 'depthwise_conv_weight_grad_kernel', 'silu_product_kernel',
    'silu_product_grad_kernel'
])
def test_a_kernel_that_fails_to_compile_leaves_the_plain_ops_with_one_warning(
        failing, fresh_kernels):
    """A compile or launch error of any kernel (forward or backward) gives the plain result for
    that pass, one warning naming the kernel and the error, and no more kernel launches."""
    failing_kernel = Failing()
    fresh_kernels.setattr(KERNELS, failing, failing_kernel)
    torch.manual_seed(0)
    if failing.startswith('depthwise'):
        conv = dw_conv(5, (5, 5), (2, 2))
        x = torch.randn(1, 5, 7, 9).contiguous(memory_format=torch.channels_last)

        def run(kernels_on):
            x.grad = conv.weight.grad = conv.bias.grad = None
            inputs = x.detach().requires_grad_()
            with gpu_kernels(kernels_on):
                out = depthwise_conv2d(inputs, conv)
            out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
            return [out.detach(), inputs.grad, conv.weight.grad.clone(), conv.bias.grad.clone()]
    else:
        a0, b0 = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)

        def run(kernels_on):
            a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
            with gpu_kernels(kernels_on):
                out = silu_product(a, b)
            out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
            return [out.detach(), a.grad, b.grad]

    expected = run(False)
    with pytest.warns(gpu_ops.GpuKernelWarning, match='simulated compile error') as record:
        results = run(True)
    assert len(record) == 1 and failing_kernel.calls == 1
    assert 'RuntimeError' in gpu_ops.gpu_kernels_failure()
    for ours, theirs in zip(results, expected):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    run(True)  # off for the process: no second launch
    assert failing_kernel.calls == 1


def test_kernels_launch_under_the_inputs_device(monkeypatch):
    """A launch for a tensor on ``cuda:1`` runs inside ``torch.cuda.device(cuda:1)`` (not on the
    current device); CPU tensors (the interpreter) need no guard; out of memory still raises."""
    import contextlib
    entered = []

    @contextlib.contextmanager
    def device_guard(device):
        entered.append(device)
        yield

    monkeypatch.setattr(torch.cuda, 'device', device_guard)
    seen = []
    assert gpu_ops._launch('test', lambda: seen.append(list(entered)), torch.device('cuda', 1))
    assert seen == [[torch.device('cuda', 1)]]
    entered.clear()
    assert gpu_ops._launch('test', lambda: None, torch.device('cpu')) and entered == []

    def out_of_memory():
        raise torch.cuda.OutOfMemoryError('CUDA out of memory')

    with pytest.raises(torch.cuda.OutOfMemoryError):
        gpu_ops._launch('test', out_of_memory, torch.device('cpu'))
    assert gpu_ops.gpu_kernels_failure() is None


def test_with_cp_recomputes_under_the_forwards_gpu_kernel_switch():
    """``with_cp=True`` run inside ``gpu_kernels(True)``, backward outside: the recomputation
    runs the kernels again (no ``CheckpointError``: MogaNet's SiLU product keeps 2 tensors where
    the plain ops keep 4), with the gradients of the model without checkpointing. (The switches
    are restored the same way for every family: ``tests/test_backbone_contract.py``.)"""
    import backbone_contract
    backbone_contract.check_with_cp_recomputes_under_the_forwards_switches(
        TINY_BACKBONES['moganet'], switch=lambda: gpu_kernels(True), size=32)


def test_with_cp_recomputation_without_the_gpu_kernel_switch_fails(monkeypatch):
    """Control: without the forward's switches the recomputation takes the plain ops and fails."""
    import backbone_contract
    from torch.utils.checkpoint import CheckpointError

    from mmmoga.models.layers import activation_checkpoint
    monkeypatch.setattr(activation_checkpoint, 'switch_states', lambda: {})
    with pytest.raises(CheckpointError):
        backbone_contract.check_with_cp_recomputes_under_the_forwards_switches(
            TINY_BACKBONES['moganet'], switch=lambda: gpu_kernels(True), size=32)
