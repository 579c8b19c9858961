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
def launches(monkeypatch):
    """Counts the launches of each kernel (the control of which path ran)."""
    counts = {}

    class Counting:

        def __init__(self, name, kernel):
            self.name, self.kernel = name, kernel

        def __getitem__(self, grid):
            counts[self.name] = counts.get(self.name, 0) + 1
            return self.kernel[grid]

    for name in ('depthwise_conv_kernel', 'depthwise_conv_weight_grad_kernel',
                 'silu_product_kernel', 'silu_product_grad_kernel'):
        monkeypatch.setattr(KERNELS, name, Counting(name, getattr(KERNELS, name)))
    return counts


def dw_conv(channels, kernel, dilation=(1, 1), bias=True):
    torch.manual_seed(0)
    padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    conv = nn.Conv2d(
        channels, channels, kernel, padding=padding, dilation=dilation, groups=channels, bias=bias)
    with torch.no_grad():
        if bias:
            conv.bias.normal_()
    return conv


def layout(x, memory_format):
    if memory_format == 'sliced':  # a channel slice of a wider tensor: neither layout is dense
        wide = torch.randn(x.shape[0], x.shape[1] + 3, *x.shape[2:])
        wide[:, 2:2 + x.shape[1]] = x
        return wide[:, 2:2 + x.shape[1]]
    return x.contiguous(memory_format=memory_format)


CONVS = {
    '5x5': ((5, 5), (1, 1)),
    '5x5_d2': ((5, 5), (2, 2)),
    '7x7_d3': ((7, 7), (3, 3)),
    '1x11': ((1, 11), (1, 1)),
    '11x1': ((11, 1), (1, 1)),
    '11x11': ((11, 11), (1, 1)),
}


@pytest.mark.parametrize(
    'name, memory_format',
    [(name, torch.channels_last) for name in CONVS] + [('7x7_d3', torch.contiguous_format),
                                                       ('7x7_d3', 'sliced')],
    ids=[f'{name}-ch-last' for name in CONVS] + ['7x7_d3-ch-first', '7x7_d3-sliced'])
def test_depthwise_kernel_matches_conv2d_outputs_and_gradients(name, memory_format, launches):
    """Every kernel shape the models use, in channels-last; the layouts (the kernels take strides)
    on the dilated 7x7; channels not a multiple of the tile, rows and columns neither."""
    kernel, dilation = CONVS[name]
    conv = dw_conv(5, kernel, dilation, bias=name != '5x5')
    x = layout(torch.randn(2, 5, 9, 13), memory_format).requires_grad_()
    with gpu_kernels(True):
        out = depthwise_conv2d(x, conv)
    assert launches == {'depthwise_conv_kernel': 1}
    grad = torch.randn_like(out)
    out.backward(grad)
    assert launches['depthwise_conv_kernel'] == 2 and launches[
        'depthwise_conv_weight_grad_kernel'] == 1
    ours = [x.grad, conv.weight.grad] + ([conv.bias.grad] if conv.bias is not None else [])

    # float64 reference
    ref_conv = dw_conv(5, kernel, dilation, bias=conv.bias is not None).double()
    ref_x = x.detach().double().requires_grad_()
    ref = ref_conv(ref_x)
    ref.backward(grad.double())
    refs = [ref_x.grad, ref_conv.weight.grad
            ] + ([ref_conv.bias.grad] if conv.bias is not None else [])
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert relative_error([out], [ref]) < 1e-6
    for a, b in zip(ours, refs):
        assert a.shape == b.shape
        assert relative_error([a], [b]) < 1e-6


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
