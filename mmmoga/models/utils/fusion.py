"""Inference fusion: fold BatchNorms and per-channel scales into their neighbouring convolutions.

:func:`fuse_for_inference` rewrites a model (a backbone, or a whole detector / segmentor holding
one) in place for evaluation. It only folds what is exact in eval mode, so outputs stay equal up to
fp32 rounding (relative error ~1e-6):

* a BatchNorm after a conv (``conv -> BN``), or before a conv without padding (``BN -> conv``:
  with zero padding the padded border would see the BN's shift, so such a pair is left alone);
* a per-channel scale after a conv or linear layer (layer scales ``gamma`` / ``layer_scale_*``,
  gnConv's ``1/3``);
* MogaNet blocks: ``norm1`` into ``proj_1`` and, together with the block's inner residual and
  ``layer_scale_1``, into one ``x * c + proj_2(...)``; ``norm2`` into ``fc1``; ``layer_scale_2``
  and the FFN's channel re-allocation ``h + sigma * (h - d)`` into ``fc2`` and a rank-one term in
  the one-channel ``d``; the feature decomposition ``x + sigma * (x - GAP(x))`` becomes one
  multiply-add;
* mmcv ``ConvModule`` (conv -> norm) in necks and heads, and the BN after HorFPN's gnConv
  modules.

What stays: LayerNorms (data-dependent), MogaNet's per-stage ``norm{i}`` (their output is both
returned and fed to a padded conv), and the first BN of Conv2Former's stem (followed by a padded
conv). The fused model is for inference only: its BatchNorms are gone (``model.train()`` would not
bring batch statistics back) and some module names change (``blocks{i}.{j}`` of MogaNet and
``stages.{i}.{j}`` of Conv2Former become fused blocks), so save the unfused checkpoint.
"""
import functools
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers import conv2d_act

__all__ = ['fuse_for_inference', 'FusedMogaBlock', 'FusedConv2FormerBlock']


def _bn_affine(bn: _BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``bn(x) == scale * x + shift`` in eval mode (per channel)."""
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    return scale, shift


def _foldable_bn(module: nn.Module) -> bool:
    return (isinstance(module, _BatchNorm) and module.track_running_stats
            and module.running_mean is not None)


def _set_conv(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> None:
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
    _set_conv(layer, weight, bias)


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
    _set_conv(conv, weight * scale[:, :, None, None], bias)


def _unpadded(conv: nn.Module) -> bool:
    padding = conv.padding
    if isinstance(padding, str):
        return padding == 'valid'
    return all(p == 0 for p in padding)


class FusedMogaBlock(nn.Module):
    """A :class:`~mmmoga.models.backbones.moganet.MogaBlock` in eval mode with its BNs and scales
    folded (see the module docstring); computes the same function within fp32 rounding."""

    def __init__(self, block: nn.Module):
        super().__init__()
        attn, mlp = block.attn, block.mlp
        self.force_fp32 = attn.force_fp32
        s1, t1 = _bn_affine(block.norm1)
        s2, t2 = _bn_affine(block.norm2)
        ls1 = block.layer_scale_1.detach().double().reshape(-1)
        ls2 = block.layer_scale_2.detach().double().reshape(-1)
        dtype = attn.proj_1.weight.dtype
        # attention: norm1 -> proj_1, decomposition as one multiply-add, layer scale -> proj_2
        self.proj_1 = attn.proj_1
        scale_input(self.proj_1, s1, t1)
        sigma = attn.sigma.scale.detach().double()
        self.register_buffer('decompose_gain', (1 + sigma).to(dtype))
        self.register_buffer('decompose_shift', (-sigma).to(dtype))
        self.gate, self.value, self.proj_2 = attn.gate, attn.value, attn.proj_2
        # x + ls1 * (proj_2(g) + s1 * x + t1) = x * (1 + ls1 * s1) + [ls1 * proj_2(g) + ls1 * t1]
        scale_output(self.proj_2, ls1, ls1 * t1)
        self.register_buffer('residual_gain', (1 + ls1 * s1).reshape(1, -1, 1, 1).to(dtype))
        # FFN: norm2 -> fc1; fc2(h + sigma * (h - g)) = fc2'(h) - g * (W2 sigma), with fc2' of
        # weight W2 (1 + sigma); the layer scale goes into both terms
        self.fc1, self.dwconv = mlp.fc1, mlp.dwconv
        self.decompose, self.fc2 = mlp.decompose, mlp.fc2
        scale_input(self.fc1, s2, t2)
        sigma = mlp.sigma.scale.detach().double().reshape(-1)
        weight = self.fc2.weight.detach().double().flatten(1)
        self.register_buffer('decompose_mix', (-(weight @ sigma) * ls2).reshape(1, -1, 1,
                                                                                1).to(dtype))
        self.fc2.weight.data = (weight * (1 + sigma)).reshape(self.fc2.weight.shape).to(dtype)
        scale_output(self.fc2, ls2)

    def _gating(self, y: torch.Tensor) -> torch.Tensor:
        gate = conv2d_act(y, self.gate, 'silu')
        value = self.value.forward_split(y, 'silu')
        if not self.force_fp32:
            return self.proj_2(gate * value)
        with torch.autocast(gate.device.type, enabled=False):  # the official double activation
            return self.proj_2(F.silu(gate.float()) * F.silu(value.float()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj_1(x)
        y = F.silu(
            torch.addcmul(self.decompose_shift * F.adaptive_avg_pool2d(y, 1), y,
                          self.decompose_gain))
        x = torch.addcmul(self._gating(y), x, self.residual_gain)
        h = conv2d_act(self.fc1(x), self.dwconv, 'gelu')
        d = conv2d_act(h, self.decompose, 'gelu')
        return torch.addcmul(self.fc2(h), d, self.decompose_mix).add_(x)


class FusedConv2FormerBlock(nn.Module):
    """A Conv2Former block with ``layer_scale_1`` / ``layer_scale_2`` folded into ``attn.proj`` and
    ``mlp.fc2``: ``x + attn(x)`` then ``x + mlp(x)``."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.attn, self.mlp = block.attn, block.mlp
        scale_output(self.attn.proj, block.layer_scale_1.detach())
        scale_output(self.mlp.fc2, block.layer_scale_2.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class _Fuser:
    """Walks a model and fuses what it knows, counting the folds."""

    def __init__(self):
        self.counts = dict(batchnorm=0, scale=0, block=0)

    def fold_sequential(self, seq: nn.Sequential) -> None:
        """``conv -> BN`` and ``BN -> unpadded conv`` pairs inside an ``nn.Sequential``."""
        names = list(seq._modules)
        for first, second in zip(names, names[1:]):
            a, b = seq._modules[first], seq._modules[second]
            if isinstance(a, nn.Conv2d) and _foldable_bn(b):
                scale_output(a, *_bn_affine(b))
                seq._modules[second] = nn.Identity()
                self.counts['batchnorm'] += 1
            elif _foldable_bn(a) and isinstance(b, nn.Conv2d) and _unpadded(b):
                scale_input(b, *_bn_affine(a))
                seq._modules[first] = nn.Identity()
                self.counts['batchnorm'] += 1

    def fuse(self, module: nn.Module) -> nn.Module:
        """Fuse ``module`` (recursively); returns its replacement (or itself)."""
        from ..backbones.conv2former import Conv2FormerBlock
        from ..backbones.hornet import HorNetBlock
        from ..backbones.inception_next import InceptionNeXtBlock
        from ..backbones.moganet import ConvPatchEmbed, MogaBlock
        from ..layers.gnconv import GlobalLocalFilter, GnConv, GnConvModule

        if isinstance(module, MogaBlock):
            self.counts['batchnorm'] += 2
            self.counts['scale'] += 3  # two layer scales and the FFN's 1 + sigma
            self.counts['block'] += 1
            return FusedMogaBlock(module)
        if isinstance(module, Conv2FormerBlock):
            self.counts['scale'] += 2
            self.counts['block'] += 1
            return FusedConv2FormerBlock(module)
        for name, child in list(module._modules.items()):
            if child is not None:
                module._modules[name] = self.fuse(child)
        if isinstance(module, nn.Sequential):
            self.fold_sequential(module)
        elif isinstance(module, ConvPatchEmbed) and _foldable_bn(module.norm):
            scale_output(module.projection, *_bn_affine(module.norm))
            module.norm = nn.Identity()
            self.counts['batchnorm'] += 1
        elif isinstance(module, HorNetBlock):
            for gamma, layer in (('gamma1', module.gnconv.proj_out), ('gamma2', module.pwconv2)):
                if getattr(module, gamma) is not None and not isinstance(layer, nn.Identity):
                    scale_output(layer, getattr(module, gamma).detach())
                    setattr(module, gamma, None)
                    self.counts['scale'] += 1
        elif (isinstance(module, GnConvModule) and module.norm_name and _foldable_bn(module.norm)
              and isinstance(module.proj_out, nn.Conv2d)):
            scale_output(module.proj_out, *_bn_affine(module.norm))  # HorFPN: gnConv -> BN
            delattr(module, module.norm_name)
            module.norm_name = None
            self.counts['batchnorm'] += 1
        elif isinstance(module, GnConv) and module.scale != 1:
            mixer = module.dwconv
            scale = torch.full((sum(module.dims), ), float(module.scale), dtype=torch.float64)
            if isinstance(mixer, GlobalLocalFilter):
                scale_output(mixer.post_norm, scale)  # the mixer ends in an affine LayerNorm
            else:
                scale_output(mixer, scale)
            module.scale = 1.0
            self.counts['scale'] += 1
        elif isinstance(module, InceptionNeXtBlock):
            if _foldable_bn(module.norm):
                scale_input(module.mlp.fc1, *_bn_affine(module.norm))
                module.norm = nn.Identity()
                self.counts['batchnorm'] += 1
            if module.gamma is not None:
                scale_output(module.mlp.fc2, module.gamma.detach())
                module.gamma = None
                self.counts['scale'] += 1
        elif (_is_conv_module(module) and module.with_norm and module.order[:2] == ('conv', 'norm')
              and _foldable_bn(module.norm) and isinstance(module.conv, nn.Conv2d)):
            scale_output(module.conv, *_bn_affine(module.norm))
            setattr(module, module.norm_name, nn.Identity())
            self.counts['batchnorm'] += 1
        return module


@functools.lru_cache(maxsize=None)
def _conv_module_class() -> Optional[type]:
    try:
        from mmcv.cnn import ConvModule
    except ImportError:
        return None
    return ConvModule


def _is_conv_module(module: nn.Module) -> bool:
    """Whether ``module`` is an mmcv ``ConvModule`` (never, where mmcv is not installed: only the
    necks and heads of the task libraries hold them)."""
    conv_module = _conv_module_class()
    return conv_module is not None and isinstance(module, conv_module)


def fuse_for_inference(model: nn.Module) -> Dict[str, int]:
    """Fold every BatchNorm and per-channel scale of ``model`` that can be folded exactly into its
    neighbouring convolution, in place, for inference.

    Works on any of the four backbones (MogaNet, HorNet, Conv2Former, InceptionNeXt), on the HorFPN
    neck and on whole OpenMMLab models holding them (mmcv ``ConvModule`` conv -> BN pairs of necks
    and heads are folded too). The model is put in eval mode first; the outputs are unchanged
    within fp32 rounding (relative error ~1e-6), see the module docstring for what is folded and
    what stays. Call it after the weights are loaded; the result is for inference only.

    Args:
        model: the model to fuse (modified in place).

    Returns:
        dict: how many ``batchnorm``, ``scale`` and whole ``block`` folds were made.

    Example:
        >>> from mmmoga.models import MogaNet, fuse_for_inference
        >>> model = MogaNet('tiny')
        >>> fuse_for_inference(model)
        {'batchnorm': 45, 'scale': 60, 'block': 20}
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f'fuse_for_inference needs an nn.Module, got {type(model).__name__}')
    model.eval()
    fuser = _Fuser()
    with torch.no_grad():
        fused = fuser.fuse(model)
    if fused is not model:
        raise TypeError(f'fuse_for_inference works in place on a model that holds blocks, not on '
                        f'a single {type(model).__name__}; wrap it in an nn.Sequential')
    MMLogger.get_current_instance().info(
        f'fuse_for_inference: folded {fuser.counts["batchnorm"]} BatchNorms and '
        f'{fuser.counts["scale"]} scales ({fuser.counts["block"]} fused blocks)')
    return fuser.counts
