"""GPU paths (Triton kernels) for the operations the gated families spend their time in.

* :func:`depthwise_conv2d`: the large and dilated depth-wise convolutions (MogaNet's 5x5, 5x5
  dilation 2 and 7x7 dilation 3, HorNet's 7x7, Conv2Former's 11x11), forward and backward, as
  direct Triton kernels that read either memory layout and accumulate in fp32.
* :func:`silu_product`: MogaNet's gating ``SiLU(gate) * SiLU(value)`` as one pass, whose backward
  keeps only the two inputs (autograd would keep four tensors).

Both compute what the plain PyTorch ops compute (the kernels accumulate in fp32 like cuDNN; under
autocast they take the autocast dtype as the convolution does) and fall back to them wherever the
kernels do not apply: not CUDA, Triton missing, tracing, scripting, ``torch.compile`` or export.

**Off by default.** They have been checked for correctness (against the plain ops, outputs and
gradients, by Triton's interpreter on the CPU), but not yet timed on a GPU, and the defaults are the
fastest *measured* path: ``MMMOGA_GPU_KERNELS=1`` in the environment or :func:`gpu_kernels` turn
them on, and ``tools/analysis/benchmark_backbones.py --gpu-kernels both`` measures both ways.
"""
import contextlib
from typing import ContextManager, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .cpu_ops import cpu_kernels, phase_dilated_conv2d
from .switch import KernelSwitch, tracing

__all__ = [
    'depthwise_conv2d', 'gpu_kernels', 'gpu_kernels_apply', 'gpu_kernels_enabled', 'kernels_off',
    'silu_product'
]

SWITCH = KernelSwitch('MMMOGA_GPU_KERNELS', default=False)
#: tiles of the depth-wise kernels (output pixels along W x channels) and of the elementwise ones
BLOCK_W, BLOCK_C, BLOCK = 32, 32, 1024
#: dtypes the kernels take (they accumulate in fp32)
KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: aim for this many programs in the weight-gradient kernel: a few per SM of a large GPU; Triton's
#: interpreter runs them one after another, so there fewer
WEIGHT_GRAD_PROGRAMS = 1024


def gpu_kernels_enabled() -> bool:
    """Whether the GPU paths are on: :func:`gpu_kernels` if active, else the environment variable
    ``MMMOGA_GPU_KERNELS`` (``1`` turns them on; default off until measured on a GPU)."""
    return SWITCH.enabled()


def gpu_kernels(enabled: bool) -> ContextManager[None]:
    """Turn the GPU paths on or off inside the ``with`` block (this process, all threads)."""
    return SWITCH.override(enabled)


@contextlib.contextmanager
def kernels_off() -> Iterator[None]:
    """The plain PyTorch ops inside the ``with`` block: the CPU paths (:mod:`.cpu_ops`) and the GPU
    paths both off (a backbone built with ``reference_ops=True`` computes under it)."""
    with cpu_kernels(False), gpu_kernels(False):
        yield


def _kernels():
    """The Triton kernels module, or None where Triton cannot be imported."""
    try:
        from . import triton_kernels
    except ImportError:
        return None
    return triton_kernels


def gpu_kernels_apply(*tensors: torch.Tensor) -> bool:
    """The kernels can run on these tensors: switched on, on CUDA (or on the CPU when the kernels
    run in Triton's interpreter), and no graph is being traced or compiled."""
    if not gpu_kernels_enabled():
        return False
    if tracing():
        return False
    kernels = _kernels()
    if kernels is None:
        return False
    device = 'cpu' if kernels.INTERPRETED else 'cuda'
    return all(t.device.type == device for t in tensors)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ------------------------------------------------------------------------------ depth-wise conv
def _is_same_depthwise(conv: nn.Conv2d) -> bool:
    """A depth-wise, stride-1, zero-padded conv whose output has its input's size (odd kernel,
    padding ``dilation * (k - 1) / 2`` on each side)."""
    (kh, kw), (dh, dw) = conv.kernel_size, conv.dilation
    return (conv.groups == conv.in_channels == conv.out_channels and conv.stride == (1, 1)
            and conv.padding_mode == 'zeros' and not isinstance(conv.padding, str) and kh % 2
            and kw % 2 and tuple(conv.padding) == (dh * (kh - 1) // 2, dw * (kw - 1) // 2))


def _launch_depthwise(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                      out: torch.Tensor, dilation: tuple, flip: bool) -> None:
    n, c, h, w = x.shape
    kh, kw = weight.shape[-2:]
    grid = (n * h, _cdiv(w, BLOCK_W), _cdiv(c, BLOCK_C))
    _kernels().depthwise_conv_kernel[grid](
        x,
        weight,
        bias if bias is not None else weight,
        out,
        h,
        w,
        c,
        *x.stride(),
        *out.stride(),
        KH=kh,
        KW=kw,
        DH=dilation[0],
        DW=dilation[1],
        FLIP=flip,
        HAS_BIAS=bias is not None,
        BLOCK_W=BLOCK_W,
        BLOCK_C=BLOCK_C)


class _DepthwiseConv2d(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                dilation: tuple) -> torch.Tensor:
        weight = weight.contiguous()
        out = torch.empty_like(x)
        _launch_depthwise(x, weight, bias, out, dilation, flip=False)
        ctx.save_for_backward(x, weight)
        ctx.dilation = dilation
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty_like(x)
            _launch_depthwise(grad, weight, None, grad_x, ctx.dilation, flip=True)
        if ctx.needs_input_grad[1]:
            n, c, h, w = x.shape
            kh, kw = weight.shape[-2:]
            channel_blocks = _cdiv(c, BLOCK_C)
            programs = 64 if _kernels().INTERPRETED else WEIGHT_GRAD_PROGRAMS
            splits = max(1, min(n * h, programs // (kh * kw * channel_blocks)))
            rows_per_program = _cdiv(n * h, splits)
            splits = _cdiv(n * h, rows_per_program)
            partial = torch.empty(splits, c, kh * kw, device=x.device, dtype=torch.float32)
            _kernels().depthwise_conv_weight_grad_kernel[(kh * kw, channel_blocks, splits)](
                x,
                grad,
                partial,
                h,
                w,
                c,
                n * h,
                rows_per_program,
                *x.stride(),
                *grad.stride(),
                KH=kh,
                KW=kw,
                DH=ctx.dilation[0],
                DW=ctx.dilation[1],
                BLOCK_W=BLOCK_W,
                BLOCK_C=BLOCK_C)
            grad_w = partial.sum(0).view(weight.shape).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2, 3), dtype=torch.float32).to(grad.dtype)
        return grad_x, grad_w, grad_b, None


def depthwise_conv2d(x: torch.Tensor, conv: nn.Conv2d, cpu_phases: bool = False) -> torch.Tensor:
    """``conv(x)`` for a depth-wise conv: the Triton kernels where they apply (see the module
    docstring; the conv must keep the input's size), else ``conv(x)``, computed over phase
    sub-grids by :func:`~mmmoga.models.layers.phase_dilated_conv2d` when ``cpu_phases`` (faster
    on CPU for the 7x7 dilation-3 conv, slower for 5x5 dilation-2: measure before setting it)."""
    if not (gpu_kernels_apply(x, conv.weight) and _is_same_depthwise(conv) and x.dim() == 4):
        return phase_dilated_conv2d(x, conv) if cpu_phases else conv(x)
    weight, bias = conv.weight, conv.bias
    device = x.device.type
    if torch.is_autocast_enabled(device):  # what autocast does for a convolution
        dtype = torch.get_autocast_dtype(device)
        x, weight = x.to(dtype), weight.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
    if x.dtype not in KERNEL_DTYPES or weight.dtype != x.dtype:
        return conv(x)  # other dtypes, and mismatches PyTorch reports
    return _DepthwiseConv2d.apply(x, weight, bias, tuple(conv.dilation))


# --------------------------------------------------------------------------------- SiLU gating
def _dense_format(t: torch.Tensor) -> Optional[torch.memory_format]:
    """The memory format in which ``t`` covers its storage without gaps (its elements then lie in
    that format's order), or None."""
    for memory_format in (torch.contiguous_format, torch.channels_last):
        if (memory_format is torch.contiguous_format
                or t.dim() == 4) and t.is_contiguous(memory_format=memory_format):
            return memory_format
    return None


class _SiluProduct(torch.autograd.Function):

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.memory_format = _dense_format(a)
        out = torch.empty_like(a, memory_format=ctx.memory_format)
        numel = a.numel()
        _kernels().silu_product_kernel[(_cdiv(numel, BLOCK), )](a, b, out, numel, BLOCK=BLOCK)
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, b = ctx.saved_tensors
        grad = grad.contiguous(memory_format=ctx.memory_format)
        grad_a = torch.empty_like(a, memory_format=ctx.memory_format)
        grad_b = torch.empty_like(b, memory_format=ctx.memory_format)
        numel = a.numel()
        _kernels().silu_product_grad_kernel[(_cdiv(numel, BLOCK), )](
            a, b, grad, grad_a, grad_b, numel, BLOCK=BLOCK)
        return grad_a, grad_b


def silu_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``SiLU(a) * SiLU(b)``, in one Triton pass where the kernels apply and both tensors share
    one dense layout (else the plain ops)."""
    layout = _dense_format(a)
    if not (gpu_kernels_apply(a, b) and a.shape == b.shape and a.dtype == b.dtype
            and a.dtype in KERNEL_DTYPES and layout is not None and _dense_format(b) == layout):
        return F.silu(a) * F.silu(b)
    return _SiluProduct.apply(a, b)
