"""Faster CPU paths for two operations that oneDNN runs slowly as PyTorch calls them.

* :func:`conv2d_act`: ``act(conv(x))`` as one oneDNN convolution with the activation as a post-op
  (``torch.ops.mkldnn._convolution_pointwise``, the kernel ``torch.compile`` uses on CPU), so the
  convolution's output is activated while it is still in cache instead of in a second pass over
  memory (and a second large allocation). Only without autograd (the fused op has no backward),
  and for channels-last inputs or depth-wise convs: on channels-first inputs the fused 1x1 conv
  measured no faster, sometimes slower.
* :func:`phase_dilated_conv2d`: a depth-wise convolution with dilation ``d`` computed as an
  undilated one over the ``d x d`` phase sub-grids of the input (space-to-batch). oneDNN's dilated
  7x7 depth-wise kernel runs at 1-6 GMAC/s on the CPUs measured here (see docs/benchmarks.md),
  the undilated one several times faster, forward and backward; the two permuting copies cost
  less than that. Any grad mode; the same sums, in another order.

Both return what the plain PyTorch ops return (within fp32 rounding) and fall back to them wherever
the fast path does not apply (not CPU, not fp32, autocast on, grad needed for :func:`conv2d_act`,
under ``torch.jit`` tracing, ``torch.compile`` or ONNX export, where the plain ops must be seen).
They are on by default; ``MMMOGA_CPU_KERNELS=0`` in the environment or :func:`cpu_kernels` turn
them off (the benchmark shows both ways).
"""
from typing import ContextManager, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .switch import Switch, tracing

__all__ = ['conv2d_act', 'cpu_kernels', 'cpu_kernels_enabled', 'phase_dilated_conv2d']

#: activation name -> (the plain function, oneDNN's post-op name, its algorithm)
ACTIVATIONS = {
    'gelu': (F.gelu, 'gelu', 'none'),  # the exact (erf) GELU, as F.gelu by default
    'silu': (F.silu, 'swish', ''),
}
SWITCH = Switch('cpu_kernels', default=True, env_var='MMMOGA_CPU_KERNELS')


def cpu_kernels_enabled() -> bool:
    """Whether the CPU paths are on: :func:`cpu_kernels` if active, else the environment variable
    ``MMMOGA_CPU_KERNELS`` (``0`` turns them off; default on)."""
    return SWITCH.enabled()


def cpu_kernels(enabled: bool) -> ContextManager[None]:
    """Turn the CPU paths on or off inside the ``with`` block (this thread or task: a
    :class:`~mmmoga.models.layers.switch.Switch`)."""
    return SWITCH.override(enabled)


def _fast_cpu(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (x.device.type == 'cpu' and x.dtype == torch.float32 and weight.dtype == torch.float32
            and not torch.is_autocast_enabled('cpu') and not tracing() and cpu_kernels_enabled())


def _find_fused_conv():
    try:
        if torch.backends.mkldnn.is_available():
            return torch.ops.mkldnn._convolution_pointwise
    except (AttributeError, RuntimeError):
        pass
    return None


#: oneDNN's convolution with a post-op (None where this torch build lacks it)
fused_conv_op = _find_fused_conv()


def conv2d_act(x: torch.Tensor, conv: nn.Conv2d, activation: Optional[str]) -> torch.Tensor:
    """``activation(conv(x))`` (``'gelu'``, ``'silu'`` or None), the activation fused into the
    convolution on CPU when no gradient is needed (see the module docstring for where)."""
    if activation is None:
        return conv(x)
    plain, post_op, algorithm = ACTIVATIONS[activation]
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad
                                                                     for p in conv.parameters()))
    pays = conv.groups == conv.in_channels or x.is_contiguous(memory_format=torch.channels_last)
    if (needs_grad or not pays or fused_conv_op is None or conv.padding_mode != 'zeros'
            or isinstance(conv.padding, str) or not _fast_cpu(x, conv.weight)):
        return plain(conv(x))
    return fused_conv_op(x, conv.weight, conv.bias, list(conv.padding), list(conv.stride),
                         list(conv.dilation), conv.groups, post_op, [None], algorithm)


def phase_dilated_conv2d(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` for a depth-wise, stride-1, 'same'-padded ``conv`` with dilation ``d > 1``,
    computed on CPU as the undilated kernel over the ``d x d`` phase sub-grids of ``x``.

    Output pixel ``(i, j)`` of the dilated conv only reads input pixels ``(i + d a, j + d b)``,
    so each phase ``(i mod d, j mod d)`` is an undilated conv of its own sub-grid. ``x`` is padded
    with zeros to a multiple of ``d`` (zeros are what the conv's padding reads), the phases moved
    into the batch dimension, convolved with padding ``(k - 1) // 2``, and moved back. Works in
    both memory layouts (the result has the input's)."""
    d = conv.dilation[0]
    k = conv.kernel_size[0]
    square = (
        conv.dilation == (d, d) and conv.kernel_size == (k, k) and k % 2 == 1
        and conv.stride == (1, 1) and conv.padding == (d * (k - 1) // 2, ) * 2)
    if (d == 1 or not square or conv.groups != conv.in_channels
            or conv.in_channels != conv.out_channels or conv.padding_mode != 'zeros'
            or not _fast_cpu(x, conv.weight)):
        return conv(x)
    n, c, h, w = x.shape
    pad_h, pad_w = -h % d, -w % d
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    rows, cols = (h + pad_h) // d, (w + pad_w) // d
    if x.is_contiguous(memory_format=torch.channels_last) and c > 1:
        # (n, rows, d, cols, d, c) -> (n, d, d, rows, cols, c): channels stay innermost
        phases = x.permute(0, 2, 3, 1).reshape(n, rows, d, cols, d, c).permute(0, 2, 4, 1, 3, 5)
        phases = phases.reshape(n * d * d, rows, cols, c).permute(0, 3, 1, 2)
        y = F.conv2d(phases, conv.weight, conv.bias, padding=(k - 1) // 2, groups=c)
        y = y.permute(0, 2, 3, 1).reshape(n, d, d, rows, cols, c).permute(0, 3, 1, 4, 2, 5)
        y = y.reshape(n, rows * d, cols * d, c).permute(0, 3, 1, 2)
    else:
        phases = x.reshape(n, c, rows, d, cols, d).permute(0, 3, 5, 1, 2, 4)
        phases = phases.reshape(n * d * d, c, rows, cols)
        y = F.conv2d(phases, conv.weight, conv.bias, padding=(k - 1) // 2, groups=c)
        y = y.reshape(n, d, d, c, rows, cols).permute(0, 3, 4, 1, 5, 2)
        y = y.reshape(n, c, rows * d, cols * d)
    return y[:, :, :h, :w]
