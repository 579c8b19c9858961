"""Folding arithmetic for inference fusion, shared by the families' blocks.

Each block that can be folded defines ``fuse(counts) -> nn.Module`` (timm's ``reparameterize``
pattern): it folds its BatchNorms and per-channel scales into the neighbouring convolutions with
these functions, in float64, and returns itself or a fused replacement, adding what it folded to
``counts`` (``batchnorm``, ``scale``, ``block``). :func:`mmmoga.models.fuse_for_inference` walks
a model and calls them.
"""
from typing import Dict, Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

#: what a fusion folded: ``batchnorm``, ``scale`` and whole ``block`` folds
FoldCounts = Dict[str, int]


def bn_affine(bn: _BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``bn(x) == scale * x + shift`` in eval mode (per channel)."""
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    return scale, shift


def foldable_bn(module: nn.Module) -> bool:
    return (isinstance(module, _BatchNorm) and module.track_running_stats
            and module.running_mean is not None)


def _set_weights(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Write folded (float64) weights back into ``conv`` in its own dtype (a bias is added if the
    conv had none)."""
    conv.weight.data = weight.to(conv.weight.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(
            bias.to(conv.weight.dtype), requires_grad=conv.weight.requires_grad)
    else:
        conv.bias.data = bias.to(conv.bias.dtype)


def _bias(layer: nn.Module) -> torch.Tensor:
    if layer.bias is None:
        return torch.zeros(layer.weight.shape[0], dtype=torch.float64, device=layer.weight.device)
    return layer.bias.double()


def scale_output(layer: nn.Module, scale: torch.Tensor, shift: Optional[torch.Tensor] = None):
    """``layer(x) * scale + shift`` (per output channel) folded into a conv or linear ``layer``."""
    scale = scale.reshape(-1).double()
    weight = layer.weight.double() * scale.reshape(-1, *([1] * (layer.weight.dim() - 1)))
    bias = _bias(layer) * scale
    if shift is not None:
        bias = bias + shift.reshape(-1).double()
    _set_weights(layer, weight, bias)


def scale_input(conv: nn.Conv2d, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """``conv(x * scale + shift)`` (per input channel) folded into ``conv``; exact only without
    padding (checked by the callers)."""
    out_channels, in_per_group = conv.weight.shape[:2]
    groups = conv.groups
    # the input channel each (output, input-within-group) weight slice reads
    index = (
        torch.arange(out_channels, device=conv.weight.device)[:, None] //
        (out_channels // groups) * in_per_group +
        torch.arange(in_per_group, device=conv.weight.device)[None])
    scale, shift = scale.reshape(-1).double()[index], shift.reshape(-1).double()[index]
    weight = conv.weight.double()
    bias = _bias(conv) + (weight * shift[:, :, None, None]).sum((1, 2, 3))
    _set_weights(conv, weight * scale[:, :, None, None], bias)


def unpadded(conv: nn.Module) -> bool:
    padding = conv.padding
    if isinstance(padding, str):
        return padding == 'valid'
    return all(p == 0 for p in padding)


def fold_sequential(seq: nn.Sequential, counts: FoldCounts) -> None:
    """``conv -> BN`` and ``BN -> unpadded conv`` pairs inside an ``nn.Sequential``."""
    names = list(seq._modules)
    for first, second in zip(names, names[1:]):
        a, b = seq._modules[first], seq._modules[second]
        if isinstance(a, nn.Conv2d) and foldable_bn(b):
            scale_output(a, *bn_affine(b))
            seq._modules[second] = nn.Identity()
            counts['batchnorm'] += 1
        elif foldable_bn(a) and isinstance(b, nn.Conv2d) and unpadded(b):
            scale_input(b, *bn_affine(a))
            seq._modules[first] = nn.Identity()
            counts['batchnorm'] += 1
