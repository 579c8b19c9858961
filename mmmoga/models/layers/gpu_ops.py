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
them on, and ``tools/analysis/gpu_check.py`` measures both ways.

**Never in the way.** Where Triton cannot be imported or initialised (missing, too old, broken),
or a kernel fails to compile or launch, the plain ops run instead, with one
:class:`GpuKernelWarning` that names the cause; the kernels then stay off for the process
(:func:`gpu_kernels_failure` tells why). Kernels launch on the input's device.
"""
import contextlib
import warnings
from typing import Callable, ContextManager, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .cpu_ops import cpu_kernels, phase_dilated_conv2d
from .switch import Switch, tracing

__all__ = [
    'GpuKernelWarning', 'depthwise_conv2d', 'gpu_kernels', 'gpu_kernels_apply',
    'gpu_kernels_enabled', 'gpu_kernels_failure', 'kernels_off', 'silu_product'
]

SWITCH = Switch('gpu_kernels', default=False, env_var='MMMOGA_GPU_KERNELS')
#: tiles of the depth-wise kernels (output pixels along W x channels) and of the elementwise ones
BLOCK_W, BLOCK_C, BLOCK = 32, 32, 1024
#: dtypes the kernels take (they accumulate in fp32)
KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: aim for this many programs in the weight-gradient kernel: a few per SM of a large GPU; Triton's
#: interpreter runs them one after another, so there fewer
WEIGHT_GRAD_PROGRAMS = 1024


class GpuKernelWarning(UserWarning):
    """mmmoga's Triton kernels could not be used; the plain PyTorch ops run instead."""


def gpu_kernels_enabled() -> bool:
    """Whether the GPU paths are on: :func:`gpu_kernels` if active, else the environment variable
    ``MMMOGA_GPU_KERNELS`` (``1`` turns them on; default off until measured on a GPU)."""
    return SWITCH.enabled()


def gpu_kernels(enabled: bool) -> ContextManager[None]:
    """Turn the GPU paths on or off inside the ``with`` block (this thread or task: a
    :class:`~mmmoga.models.layers.switch.Switch`)."""
    return SWITCH.override(enabled)


@contextlib.contextmanager
def kernels_off() -> Iterator[None]:
    """The plain PyTorch ops inside the ``with`` block: the CPU paths (:mod:`.cpu_ops`) and the GPU
    paths both off (a backbone built with ``reference_ops=True`` computes under it)."""
    with cpu_kernels(False), gpu_kernels(False):
        yield


#: why the kernels are off for this process (None: they are not)
_failure: Optional[str] = None
#: the imported kernels module (None before the first use)
_module = None


def gpu_kernels_failure() -> Optional[str]:
    """Why the Triton kernels are off for this process (an import, initialisation, compile or
    launch failure), or None."""
    return _failure


def _disable(cause: str) -> None:
    """Switch the kernels off for the process, with one warning naming ``cause``."""
    global _failure
    if _failure is None:
        _failure = cause
        warnings.warn(
            f'mmmoga: the Triton kernels are off for this process, the plain PyTorch ops run '
            f'instead: {cause}',
            GpuKernelWarning,
            stacklevel=3)


def _kernels():
    """The Triton kernels module, or None where Triton cannot be imported or initialised (any
    error: missing, an older Triton without what the kernels use, a broken install)."""
    global _module
    if _failure is not None:
        return None
    if _module is None:
        try:
            from . import triton_kernels
        except Exception as error:  # noqa: BLE001 (any failure leaves the plain ops)
            if isinstance(error, ModuleNotFoundError) and error.name == 'triton':
                return None  # no Triton (a CPU build of torch): nothing to warn about
            _disable(f'importing Triton failed ({type(error).__name__}: {error})')
            return None
        _module = triton_kernels
    return _module


def _launch(name: str, launch: Callable[[], None], device: torch.device) -> bool:
    """Run ``launch`` (one kernel launch, compiling it the first time) on ``device``; False, with
    the kernels switched off and one warning, where it fails (out of memory still raises)."""
    guard = torch.cuda.device(device) if device.type == 'cuda' else contextlib.nullcontext()
    try:
        with guard:
            launch()
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as error:  # noqa: BLE001 (compile and launch errors)
        _disable(f'the {name} kernel failed ({type(error).__name__}: '
                 f'{str(error).strip().splitlines()[0] if str(error).strip() else ""})')
        return False
    return True


def gpu_kernels_apply(*tensors: torch.Tensor) -> bool:
    """The kernels can run on these tensors: switched on, on CUDA (or on the CPU when the kernels
    run in Triton's interpreter), and no graph is being traced or compiled."""
    if tracing() or not gpu_kernels_enabled():  # tracing first: no switch read in a graph
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


def _padding(weight: torch.Tensor, dilation: tuple) -> tuple:
    kh, kw = weight.shape[-2:]
    return dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2


def _launch_depthwise(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                      out: torch.Tensor, dilation: tuple, flip: bool) -> bool:
    n, c, h, w = x.shape
    kh, kw = weight.shape[-2:]
    grid = (n * h, _cdiv(w, BLOCK_W), _cdiv(c, BLOCK_C))
    kernels = _kernels()
    if kernels is None:
        return False

    def launch() -> None:
        kernels.depthwise_conv_kernel[grid](
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

    return _launch('depth-wise convolution', launch, x.device)


def _depthwise_weight_grad(x: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor,
                           dilation: tuple) -> Optional[torch.Tensor]:
    """The weight gradient by :func:`~.triton_kernels.depthwise_conv_weight_grad_kernel` (fp32
    partial sums over slices of the rows, summed here), or None where the kernel fails."""
    kernels = _kernels()
    if kernels is None:
        return None
    n, c, h, w = x.shape
    kh, kw = weight.shape[-2:]
    channel_blocks = _cdiv(c, BLOCK_C)
    programs = 64 if kernels.INTERPRETED else WEIGHT_GRAD_PROGRAMS
    splits = max(1, min(n * h, programs // (kh * kw * channel_blocks)))
    rows_per_program = _cdiv(n * h, splits)
    splits = _cdiv(n * h, rows_per_program)
    partial = torch.empty(splits, c, kh * kw, device=x.device, dtype=torch.float32)

    def launch() -> None:
        kernels.depthwise_conv_weight_grad_kernel[(kh * kw, channel_blocks, splits)](
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
            DH=dilation[0],
            DW=dilation[1],
            BLOCK_W=BLOCK_W,
            BLOCK_C=BLOCK_C)

    if not _launch('depth-wise weight-gradient', launch, x.device):
        return None
    return partial.sum(0).view(weight.shape).to(weight.dtype)


class _DepthwiseConv2d(torch.autograd.Function):
    """The depth-wise conv by the Triton kernels; any pass whose kernel fails (see
    :func:`_launch`) is computed by the plain ops instead."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                dilation: tuple) -> torch.Tensor:
        weight = weight.contiguous()
        out = torch.empty_like(x)
        if not _launch_depthwise(x, weight, bias, out, dilation, flip=False):
            out = F.conv2d(x, weight, bias, 1, _padding(weight, dilation), dilation, x.shape[1])
        ctx.save_for_backward(x, weight)
        ctx.dilation = dilation
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        dilation, groups = ctx.dilation, x.shape[1]
        padding = _padding(weight, dilation)
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty_like(x)
            if not _launch_depthwise(grad, weight, None, grad_x, dilation, flip=True):
                grad_x = torch.nn.grad.conv2d_input(x.shape, weight, grad, 1, padding, dilation,
                                                    groups)
        if ctx.needs_input_grad[1]:
            grad_w = _depthwise_weight_grad(x, grad, weight, dilation)
            if grad_w is None:
                grad_w = torch.nn.grad.conv2d_weight(x, weight.shape, grad, 1, padding, dilation,
                                                     groups)
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


def _launch_elementwise(name: str, kernel: str, *tensors: torch.Tensor) -> bool:
    """One elementwise kernel over same-strided dense tensors (the last ``numel`` elements)."""
    kernels = _kernels()
    if kernels is None:
        return False
    numel = tensors[0].numel()

    def launch() -> None:
        getattr(kernels, kernel)[(_cdiv(numel, BLOCK), )](*tensors, numel, BLOCK=BLOCK)

    return _launch(name, launch, tensors[0].device)


class _SiluProduct(torch.autograd.Function):
    """``SiLU(a) * SiLU(b)`` by the Triton kernels; a pass whose kernel fails (see
    :func:`_launch`) is computed by the plain ops instead."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.memory_format = _dense_format(a)
        out = torch.empty_like(a, memory_format=ctx.memory_format)
        if not _launch_elementwise('SiLU product', 'silu_product_kernel', a, b, out):
            out = F.silu(a) * F.silu(b)
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, b = ctx.saved_tensors
        grad = grad.contiguous(memory_format=ctx.memory_format)
        grad_a = torch.empty_like(a, memory_format=ctx.memory_format)
        grad_b = torch.empty_like(b, memory_format=ctx.memory_format)
        if not _launch_elementwise('SiLU product gradient', 'silu_product_grad_kernel', a, b, grad,
                                   grad_a, grad_b):
            a32, b32, g32 = a.float(), b.float(), grad.float()
            sig_a, sig_b = torch.sigmoid(a32), torch.sigmoid(b32)
            grad_a = (g32 * b32 * sig_b * sig_a * (1 + a32 * (1 - sig_a))).to(a.dtype)
            grad_b = (g32 * a32 * sig_a * sig_b * (1 + b32 * (1 - sig_b))).to(b.dtype)
        return grad_a, grad_b


def silu_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``SiLU(a) * SiLU(b)``, in one Triton pass where the kernels apply and both tensors share
    one dense layout (else the plain ops)."""
    layout = _dense_format(a)
    if not (gpu_kernels_apply(a, b) and a.shape == b.shape and a.dtype == b.dtype
            and a.dtype in KERNEL_DTYPES and layout is not None and _dense_format(b) == layout):
        return F.silu(a) * F.silu(b)
    return _SiluProduct.apply(a, b)
