"""Learnable scales, and residual branches behind a small scale that train under fp16.

All four families multiply each residual branch by a learnable per-channel layer scale that starts
tiny (1e-5 in MogaNet, 1e-6 in the others), and MogaNet scales a few paths inside its branches the
same way (``sigma``). The branch's true gradient is then the upstream gradient times that scale: in
fp32 or bf16 this is fine, but under fp16 autocast the gradient reaches the fp16 operations of the
branch as ``g * 1e-6``, which even at mmengine's initial loss scale of 2**16 is at or below fp16's
smallest subnormal, so it flushes to zero: the branch's parameters (and the norms in front of it)
get exactly-zero gradients until the scales have grown.

:func:`layer_scaled` computes ``scale * branch(x)`` so that this cannot happen: under fp16 autocast,
while a gradient is recorded, the gradients inside the branch are carried ``K`` times larger, with
``K = 2 ** round(-log2(max |scale|))`` (1 once the scale has grown to about 1; at most 2**24), and
divided by ``K`` again, in fp32, where they leave it (into the branch's input and its parameters).
Every factor is a power of two, so nothing is rounded but the flushed values; the branch output and
its product with the scale are fp32. Without fp16 autocast it is the plain ``scale * branch(x)``.
"""
import contextlib
from typing import Callable, Iterator, Optional, Sequence

import torch
from torch import nn

from .switch import tracing

__all__ = ['ElementScale', 'fp16_rescue_active', 'in_fp16_autocast', 'layer_scaled', 'scale_grad']

#: what ``K * max |scale|`` is brought to: the branch's gradients then sit 6 binades (of fp16's
#: 30) below the residual stream's instead of 17-20, out of the underflow, and nested scales
#: (MogaNet's ``sigma`` inside a layer-scaled branch) do not push them into overflow
RESCUE_TARGET = 2.0**-6
#: the largest gradient magnification
MAX_RESCUE_FACTOR = 2.0**24


class ElementScale(nn.Module):
    """Learnable per-channel scale of an NCHW tensor (MogaNet's ``sigma``, key ``scale``)."""

    def __init__(self, channels: int, init_value: float = 0., requires_grad: bool = True):
        super().__init__()
        self.scale = nn.Parameter(
            init_value * torch.ones((1, channels, 1, 1)), requires_grad=requires_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class _ScaleGrad(torch.autograd.Function):
    """Identity in the forward pass; the backward multiplies the gradient by ``factor`` in (at
    least) fp32 and returns it in the tensor's dtype."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(factor)
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        factor, = ctx.saved_tensors
        wide = torch.promote_types(grad.dtype, torch.float32)
        return (grad.to(wide) * factor).to(grad.dtype), None


def scale_grad(tensor: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``tensor`` itself, whose gradient is multiplied by ``factor`` (a 0-dim tensor) on the way
    back."""
    return _ScaleGrad.apply(tensor, factor)


def in_fp16_autocast(x: torch.Tensor) -> bool:
    """Whether fp16 autocast is on for ``x``'s device."""
    device = x.device.type
    return (torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device)
            and torch.get_autocast_dtype(device) == torch.float16)


def fp16_rescue_active(x: torch.Tensor) -> bool:
    """Whether :func:`layer_scaled` rescues gradients for ``x``: fp16 autocast on ``x``'s device,
    gradients recorded, and no graph being captured (tracing, scripting, export, and
    ``torch.compile``).

    Not under ``torch.compile``: the rescue swaps the branch's parameters for aliases inside the
    forward, which dynamo does not follow: it breaks the graph at every scaled branch, recompiles
    :func:`scale_grad` for each tensor rank until it hits its recompile limit, and the gradients
    it gave (HorNet, CPU, torch 2.13) were not the eager ones. A compiled fp16 run therefore
    computes the plain ``scale * branch(x)``, whose gradients behind the 1e-6 layer scales flush
    to zero in the first steps: train compiled models in bf16 (or fp32)."""
    return (torch.is_grad_enabled() and in_fp16_autocast(x) and not tracing())


def rescue_factor(scale: torch.Tensor) -> torch.Tensor:
    """``2 ** round(log2(RESCUE_TARGET / max |scale|))`` clamped to ``[1, MAX_RESCUE_FACTOR]``, as
    a 0-dim fp32 tensor on the scale's device (computed there: no host synchronisation)."""
    with torch.no_grad():
        largest = scale.detach().float().abs().amax().clamp_min(RESCUE_TARGET / MAX_RESCUE_FACTOR)
        factor = torch.exp2(torch.round(torch.log2(RESCUE_TARGET / largest)))
        return factor.clamp(1.0, MAX_RESCUE_FACTOR)


@contextlib.contextmanager
def _gradients_divided(modules: Sequence[nn.Module], factor: torch.Tensor) -> Iterator[None]:
    """Inside the block, every trainable parameter of ``modules`` is replaced by an alias whose
    gradient is divided by ``factor`` on the way back (nested use divides again)."""
    inverse = 1.0 / factor
    swapped, aliases = [], {}
    for module in modules:
        for owner in module.modules():
            for name, param in owner._parameters.items():
                if param is None or not param.requires_grad:
                    continue
                if id(param) not in aliases:
                    aliases[id(param)] = scale_grad(param, inverse)
                swapped.append((owner, name, param))
    for owner, name, param in swapped:
        owner._parameters[name] = aliases[id(param)]
    try:
        yield
    finally:
        for owner, name, param in reversed(swapped):
            owner._parameters[name] = param


def layer_scaled(scale: Optional[torch.Tensor], modules: Sequence[nn.Module],
                 branch: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``scale * branch(x)``, with the branch's gradients kept out of fp16's underflow.

    Args:
        scale: the learnable scale, shaped to broadcast against the branch output; None (no
            layer scale, or one folded away by :func:`~mmmoga.models.fuse_for_inference`) returns
            ``branch(x)``.
        modules: every module whose parameters ``branch`` uses (norms in front of it included).
        branch: the residual branch.
        x: its input.

    Without fp16 autocast (see :func:`fp16_rescue_active`) this is exactly ``scale * branch(x)``.
    Under it, ``branch`` runs on an alias of ``x`` and of the modules' parameters whose gradients
    are divided by ``K`` (see the module docstring), its output is cast to (at least) fp32 and its
    gradient multiplied by ``K``: the same forward values, the same gradients, none flushed to
    zero.
    """
    if scale is None:
        return branch(x)
    if not fp16_rescue_active(x):
        return scale * branch(x)
    factor = rescue_factor(scale)
    with _gradients_divided(modules, factor):
        y = branch(scale_grad(x, 1.0 / factor))
    y = y.to(torch.promote_types(y.dtype, torch.float32))
    return scale * scale_grad(y, factor)
