"""mmmoga.models.layers.cpu_ops: the fused conv + activation and the phase-decomposed dilated
conv compute what the plain ops compute, run where they should, and step aside where they must
not (autograd, autocast, tracing, the switch)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from small_models import SMALL_BACKBONES
from torch import nn

from mmmoga.models.backbones import MogaNet
from mmmoga.models.layers import conv2d_act, cpu_kernels, cpu_kernels_enabled, phase_dilated_conv2d
from numeric_fixtures import randomise, relative_error


def _conv_forward_forbidden(conv: nn.Conv2d) -> nn.Conv2d:
    """A copy of ``conv`` whose ``forward`` raises: the fast paths call the functional ops with
    the conv's weights, the plain path calls the module (the control of which path ran)."""

    def forbidden(x):
        raise AssertionError('plain path taken')

    conv = copy.deepcopy(conv)
    conv.forward = forbidden
    return conv


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('kernel,dilation', [(7, 3), (5, 2), (3, 4)])
@pytest.mark.parametrize('size', [(7, 7), (14, 13), (9, 12), (1, 5)])
def test_phase_dilated_conv_equals_the_dilated_conv(channels_last, kernel, dilation, size):
    torch.manual_seed(0)
    conv = nn.Conv2d(
        6, 6, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation, groups=6).double()
    x = _layout(torch.randn(2, 6, *size, dtype=torch.float64), channels_last).requires_grad_()
    grad_out = torch.randn(2, 6, *size, dtype=torch.float64)
    expected = conv(x)
    expected_grads = torch.autograd.grad(expected, [x, conv.weight, conv.bias], grad_out)
    conv = conv.float()
    xf = x.detach().float().requires_grad_()
    blocked = _conv_forward_forbidden(conv)
    fast = phase_dilated_conv2d(xf, blocked)  # fails if not taken
    grads = torch.autograd.grad(fast, [xf, blocked.weight, blocked.bias], grad_out.float())
    assert fast.shape == expected.shape
    assert relative_error([fast.double()], [expected]) < 1e-6
    assert relative_error([g.double() for g in grads], expected_grads) < 1e-5


def test_phase_dilated_conv_leaves_other_convs_to_pytorch():
    x = torch.randn(1, 4, 10, 10)
    for conv in (
            nn.Conv2d(4, 4, 3, padding=1, groups=4),  # not dilated
            nn.Conv2d(4, 4, 5, stride=2, padding=4, dilation=2, groups=4),  # strided
            nn.Conv2d(4, 8, 5, padding=4, dilation=2, groups=4),  # not depth-wise
            nn.Conv2d(4, 4, 5, padding=2, dilation=2, groups=4)):  # not 'same'
        with torch.no_grad():
            assert torch.equal(phase_dilated_conv2d(x, conv), conv(x))
        with pytest.raises(AssertionError, match='plain path'):
            phase_dilated_conv2d(x, _conv_forward_forbidden(conv))


@pytest.mark.parametrize('activation,plain', [('gelu', F.gelu), ('silu', F.silu)])
@pytest.mark.parametrize(
    'conv,channels_last',
    [
        (nn.Conv2d(8, 16, 1), True),  # 1x1, channels-last
        (nn.Conv2d(16, 16, 3, padding=1, groups=16), False),  # depth-wise, either layout
        (nn.Conv2d(16, 16, 3, padding=1, groups=16), True),
        (nn.Conv2d(16, 1, 1), True),  # MogaNet's decompose
    ])
def test_fused_conv_activation_equals_the_two_ops(activation, plain, conv, channels_last):
    torch.manual_seed(0)
    x = _layout(torch.randn(2, conv.in_channels, 11, 9), channels_last)
    with torch.no_grad():
        expected = plain(conv(x))
        fast = conv2d_act(x, _conv_forward_forbidden(conv), activation)  # fails if not fused
    assert fast.shape == expected.shape
    assert relative_error([fast], [expected]) < 1e-6


def test_fused_conv_activation_steps_aside_where_it_must():
    conv = nn.Conv2d(8, 16, 1)
    x = torch.randn(2, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    blocked = _conv_forward_forbidden(nn.Conv2d(8, 16, 1))
    # autograd: the fused op has no backward, so with grad the plain ops run
    with pytest.raises(AssertionError, match='plain path'):
        conv2d_act(x, blocked, 'gelu')
    y = conv2d_act(x, conv, 'gelu')
    y.sum().backward()
    assert conv.weight.grad is not None
    with torch.no_grad():
        for context in (torch.autocast('cpu', dtype=torch.bfloat16), cpu_kernels(False)):
            with context, pytest.raises(AssertionError, match='plain path'):
                conv2d_act(x, blocked, 'gelu')
        with pytest.raises(AssertionError, match='plain path'):  # channels-first 1x1: no gain
            conv2d_act(x.contiguous(), blocked, 'gelu')
        with pytest.raises(AssertionError, match='plain path'):
            conv2d_act(x.double(), blocked.double(), 'gelu')
        assert conv2d_act(x, conv, 'gelu').shape == (2, 16, 6, 6)  # control: fused here


def test_tracing_sees_the_plain_ops():
    """jit tracing (the FLOPs counter, ONNX export) must record aten convs and activations,
    never the fused oneDNN op."""
    model = randomise(SMALL_BACKBONES['moganet'](channels_last=True)).eval()
    with torch.no_grad():
        graph = torch.jit.trace(model, torch.randn(1, 3, 32, 32)).inlined_graph
    kinds = {node.kind() for node in graph.nodes()}
    assert 'aten::_convolution' in kinds and 'aten::gelu' in kinds and 'aten::silu' in kinds
    assert not any('mkldnn' in kind for kind in kinds)


def test_switch_and_environment(monkeypatch):
    monkeypatch.delenv('MMMOGA_CPU_KERNELS', raising=False)
    assert cpu_kernels_enabled()
    monkeypatch.setenv('MMMOGA_CPU_KERNELS', '0')
    assert not cpu_kernels_enabled()
    with cpu_kernels(True):
        assert cpu_kernels_enabled()
        with cpu_kernels(False):
            assert not cpu_kernels_enabled()
        assert cpu_kernels_enabled()
    assert not cpu_kernels_enabled()


def _count_fast_calls(model: nn.Module, monkeypatch) -> dict:
    """Count the fast-path calls of the model's forward (through the functions' module globals)."""
    from mmmoga.models.layers import cpu_ops as module
    calls = dict(fused=0, phase=0)
    fused_op, conv2d = module.fused_conv_op, F.conv2d

    def counting_fused(*args):
        calls['fused'] += 1
        return fused_op(*args)

    class CountingF:

        def __getattr__(self, name):
            return getattr(F, name)

        @staticmethod
        def conv2d(*args, **kwargs):
            calls['phase'] += 1
            return conv2d(*args, **kwargs)

    monkeypatch.setattr(module, 'fused_conv_op', counting_fused)
    monkeypatch.setattr(module, 'F', CountingF())
    return calls


@pytest.mark.parametrize('family,channels_last', [('moganet', True), ('moganet', False),
                                                  ('inceptionnext', True), ('conv2former', True)])
def test_backbones_same_outputs_with_and_without_the_kernels(family, channels_last, monkeypatch):
    torch.manual_seed(0)
    model = randomise(SMALL_BACKBONES[family]())
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), cpu_kernels(False):
        plain = model(x)
    calls = _count_fast_calls(model, monkeypatch)
    with torch.no_grad():
        fast = model(x)
    assert relative_error(fast, plain) < 1e-5
    assert calls['fused'] > 0  # control: the fused kernels ran
    if isinstance(model, MogaNet):
        assert calls['phase'] == sum(model.arch_settings['depths'])  # one 7x7 d3 conv a block
        # training: the phase-decomposed conv with autograd, same outputs and gradients
        grads = []
        for enabled in (False, True):
            model.zero_grad()
            with cpu_kernels(enabled):
                sum(o.square().mean() for o in model.train()(x)).backward()
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        assert ((grads[0] - grads[1]).norm() / grads[0].norm()).item() < 1e-5
