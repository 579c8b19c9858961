"""MogaNet: Multi-order Gated Aggregation Network.

Paper: `MogaNet: Multi-order Gated Aggregation Network
<https://arxiv.org/abs/2211.03295>`_ (ICLR 2024).
Official code and weights: https://github.com/Westlake-AI/MogaNet

State-dict keys follow the official ``models/moganet.py`` (``patch_embed{i}``, ``blocks{i}.{j}``,
``norm{i}``, ``head``), so the released ``.pth.tar`` files load without conversion.
"""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from mmmoga.registry import register_model
from ..layers import (DropPath, ElementScale, build_norm_layer, conv2d_act, depthwise_conv2d,
                      gpu_kernels_apply, in_fp16_autocast, layer_scaled, silu_product)
from ..layers.folding import FoldCounts, bn_affine, foldable_bn, scale_input, scale_output
from ..layers.switch import measured_for
from .base_backbone import BaseBackbone

__all__ = ['MogaNet']

#: where MogaNet's defaults take its folded scales and channels-last (see
#: :attr:`~mmmoga.models.backbones.base_backbone.BaseBackbone.measured_fast_ops`): on CPU (2 cores:
#: inference 2.40x, training 1.64x the official op sequence with the config's defaults), and on
#: CUDA under bf16 autocast (one NVIDIA H200, torch 2.11: training at 224 912 img/s folded against
#: 810 official, 1,011 channels-last; docs/gpu.md "Defaults on CUDA")
MEASURED_FAST_OPS = {'cpu': ('*', ), 'cuda': ('bf16', )}
MEASURED_CHANNELS_LAST = {'cpu': ('*', ), 'cuda': ('bf16', )}


class MultiOrderDWConv(nn.Module):
    """Multi-order depth-wise convolutions: DW 5x5 (d=1) on all channels, then DW 5x5 (d=2) and
    DW 7x7 (d=3) on two channel groups split 1:3:4, concatenated and mixed by a 1x1 conv."""

    def __init__(self,
                 channels: int,
                 dilations: Sequence[int] = (1, 2, 3),
                 channel_split: Sequence[int] = (1, 3, 4)):
        super().__init__()
        total = sum(channel_split)
        self.split_1 = int(channel_split[1] / total * channels)
        self.split_2 = int(channel_split[2] / total * channels)
        self.split_0 = channels - self.split_1 - self.split_2
        self.DW_conv0 = nn.Conv2d(
            channels,
            channels,
            5,
            padding=(1 + 4 * dilations[0]) // 2,
            groups=channels,
            dilation=dilations[0])
        self.DW_conv1 = nn.Conv2d(
            self.split_1,
            self.split_1,
            5,
            padding=(1 + 4 * dilations[1]) // 2,
            groups=self.split_1,
            dilation=dilations[1])
        self.DW_conv2 = nn.Conv2d(
            self.split_2,
            self.split_2,
            7,
            padding=(1 + 6 * dilations[2]) // 2,
            groups=self.split_2,
            dilation=dilations[2])
        self.PW_conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_0 = self.DW_conv0(x)
        x_1 = self.DW_conv1(x_0[:, self.split_0:self.split_0 + self.split_1])
        x_2 = self.DW_conv2(x_0[:, x_0.shape[1] - self.split_2:])
        x = torch.cat([x_0[:, :self.split_0], x_1, x_2], dim=1)
        return self.PW_conv(x)

    def forward_split(self, x: torch.Tensor, activation: Optional[str] = None) -> torch.Tensor:
        """``activation(forward(x))`` with one ``split`` instead of three slices (the same values,
        and a backward that concatenates the three gradients instead of summing three zero-padded
        copies of the whole tensor), the depth-wise convs through
        :func:`~mmmoga.models.layers.depthwise_conv2d` (Triton kernels on a GPU where switched on,
        the 7x7 dilation-3 conv over phase sub-grids on CPU) and the activation fused into
        ``PW_conv`` on CPU (see :mod:`~mmmoga.models.layers.cpu_ops`)."""
        x_0, x_1, x_2 = torch.split(
            depthwise_conv2d(x, self.DW_conv0), [self.split_0, self.split_1, self.split_2], dim=1)
        x_1 = depthwise_conv2d(x_1, self.DW_conv1)
        # phases on CPU: 2.0-3.0x faster for this 7x7 d3 conv, 2-3.5x slower for the 5x5 d2
        x_2 = depthwise_conv2d(x_2, self.DW_conv2, cpu_phases=True)
        return conv2d_act(torch.cat([x_0, x_1, x_2], dim=1), self.PW_conv, activation)


class MultiOrderGatedAggregation(nn.Module):
    """Spatial aggregation (Moga): feature decomposition, then SiLU(gate) * SiLU(multi-order value),
    projected back and added to the (normalised) input.

    ``force_fp32=True`` is the official ``attn_force_fp32``: the gating product and ``proj_2`` run
    in fp32 with autocast switched off (for mixed-precision training; the weights must be fp32, as
    under autocast). As released, the activated gate and value are activated a second time on
    that path, so it computes ``proj_2(SiLU(SiLU(g)) * SiLU(SiLU(v)))``: a different function, not
    only a different precision. Released weights were trained with ``False``; never switch the
    option between training and evaluation. Unlike the official code (CUDA autocast only),
    autocast is switched off for the input's device type, so the option also holds on CPU.
    """

    def __init__(self, channels: int, force_fp32: bool = False):
        super().__init__()
        self.force_fp32 = force_fp32
        self.proj_1 = nn.Conv2d(channels, channels, 1)
        self.gate = nn.Conv2d(channels, channels, 1)
        self.value = MultiOrderDWConv(channels)
        self.proj_2 = nn.Conv2d(channels, channels, 1)
        self.sigma = ElementScale(channels, init_value=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.proj_1(x)
        x = F.silu(x + self.sigma(x - F.adaptive_avg_pool2d(x, 1)))
        if self.force_fp32:
            return self.forward_gating_fp32(F.silu(self.gate(x)), F.silu(self.value(x))) + shortcut
        x = F.silu(self.gate(x)) * F.silu(self.value(x))
        return self.proj_2(x) + shortcut

    def forward_scaled(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``scale * forward(x)`` with fewer passes over memory: the decomposition
        ``y + sigma * (y - GAP(y))`` as one multiply-add ``(1 + sigma) * y - sigma * GAP(y)``,
        ``scale`` (``(1, C, 1, 1)``) folded into ``proj_2``, the shortcut added by a
        multiply-add, and the SiLUs fused into their convs where
        :func:`~mmmoga.models.layers.conv2d_act` can (on CPU) or into the gating product
        (:func:`~mmmoga.models.layers.silu_product`, on a GPU)."""
        if self.force_fp32:
            return scale * self.forward(x)
        y = self.proj_1(x)
        sigma = self.sigma.scale
        y = F.silu(torch.addcmul(-sigma * F.adaptive_avg_pool2d(y, 1), y, 1 + sigma))
        if gpu_kernels_apply(y):
            y = silu_product(self.gate(y), self.value.forward_split(y))
        else:
            y = conv2d_act(y, self.gate, 'silu') * self.value.forward_split(y, 'silu')
        column = scale.reshape(-1, 1, 1, 1)
        y = F.conv2d(y, self.proj_2.weight * column, self.proj_2.bias * scale.reshape(-1))
        return torch.addcmul(y, x, scale)

    def forward_gating_fp32(self, gate: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """``proj_2(SiLU(gate) * SiLU(value))`` in fp32, autocast off (the official double
        activation: the caller passes activated tensors)."""
        with torch.autocast(gate.device.type, enabled=False):
            return self.proj_2(F.silu(gate.float()) * F.silu(value.float()))


class ChannelAggregationFFN(nn.Module):
    """Channel aggregation FFN: 1x1 expand, DW 3x3, GELU, channel re-allocation
    ``x + sigma * (x - GELU(decompose(x)))``, 1x1 reduce."""

    def __init__(self, channels: int, hidden_channels: int, drop_rate: float = 0.):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden_channels, 1)
        self.dwconv = nn.Conv2d(
            hidden_channels, hidden_channels, 3, padding=1, groups=hidden_channels)
        self.fc2 = nn.Conv2d(hidden_channels, channels, 1)
        self.drop = nn.Dropout(drop_rate)
        self.decompose = nn.Conv2d(hidden_channels, 1, 1)
        self.sigma = ElementScale(hidden_channels, init_value=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(F.gelu(self.dwconv(self.fc1(x))))
        # ``sigma * (x - GELU(decompose(x)))``: decompose's gradient only comes through sigma
        x = x + layer_scaled(self.sigma.scale, (self.decompose, ), self._minus_decomposed, x)
        return self.drop(self.fc2(x))

    def _minus_decomposed(self, x: torch.Tensor) -> torch.Tensor:
        return x - F.gelu(self.decompose(x))

    def forward_scaled(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``scale * forward(x)`` without the element-wise passes over the wide hidden tensor
        ``h``: ``fc2(h + sigma * (h - d))``, ``d = GELU(decompose(h))`` of one channel, equals
        ``fc2'(h) - d * (W2 sigma)`` with ``fc2'`` the conv of weight ``W2 (1 + sigma)``; ``scale``
        (``(1, C, 1, 1)``) is folded into both terms; the GELUs are fused into their convs where
        :func:`~mmmoga.models.layers.conv2d_act` can. Dropout between them keeps the plain path."""
        if self.training and self.drop.p > 0:
            return scale * self.forward(x)
        h = conv2d_act(self.fc1(x), self.dwconv, 'gelu')
        d = conv2d_act(h, self.decompose, 'gelu')
        sigma = self.sigma.scale.reshape(-1)
        weight = self.fc2.weight.flatten(1)  # (C, hidden)
        column = scale.reshape(-1, 1)
        folded = (weight * (1 + sigma) * column).reshape(self.fc2.weight.shape)
        y = F.conv2d(h, folded, self.fc2.bias * scale.reshape(-1))
        rank_one = (weight @ sigma).reshape(scale.shape) * scale
        return torch.addcmul(y, d, -rank_one)


class MogaBlock(nn.Module):
    """``x + drop_path(ls1 * Moga(BN(x)))`` then ``x + drop_path(ls2 * CAFFN(BN(x)))``.

    By default the same function is computed with the layer scales and the ``sigma`` scales
    folded into the neighbouring 1x1 convolutions (see ``forward_scaled`` of the two branches),
    and on CPU with the kernels of :mod:`~mmmoga.models.layers.cpu_ops`: the same parameters,
    fewer passes over memory, outputs equal within fp32 rounding.
    ``reference_ops=True`` runs it op by op as the official code writes it (the reference of the
    speed benchmark and of the tests); ``None`` does so where the folded form is not measured faster
    (``measured_fast_ops``, the backbone's table, by default :data:`MEASURED_FAST_OPS`: a CUDA
    input outside bf16 autocast). Under fp16 autocast it takes that path too, each scaled branch
    through :func:`~mmmoga.models.layers.layer_scaled`: folded into fp16 weights, the 1e-5 scales
    would make them subnormal, and the gradients behind them would flush to zero.
    """

    def __init__(self,
                 channels: int,
                 ffn_ratio: float,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-5,
                 norm_cfg: Optional[dict] = None,
                 attn_force_fp32: bool = False,
                 reference_ops: Optional[bool] = None,
                 measured_fast_ops: Optional[dict] = None):
        super().__init__()
        norm_cfg = norm_cfg or dict(type='BN')
        self.reference_ops = reference_ops
        self.measured_fast_ops = (
            MEASURED_FAST_OPS if measured_fast_ops is None else measured_fast_ops)
        self.norm1 = build_norm_layer(norm_cfg, channels)[1]
        self.attn = MultiOrderGatedAggregation(channels, attn_force_fp32)
        self.norm2 = build_norm_layer(norm_cfg, channels)[1]
        self.mlp = ChannelAggregationFFN(channels, int(channels * ffn_ratio), drop_rate)
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones((1, channels, 1, 1)))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones((1, channels, 1, 1)))
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0. else nn.Identity()

    def official_ops(self, x: torch.Tensor) -> bool:
        """Whether the forward of ``x`` runs op by op (see the class docstring)."""
        if in_fp16_autocast(x) or self.reference_ops:
            return True
        return self.reference_ops is None and not measured_for(self.measured_fast_ops, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.official_ops(x):
            y = layer_scaled(self.layer_scale_1, (self.norm1, self.attn), self._mix, x)
            x = x + self.drop_path(y)
            y = layer_scaled(self.layer_scale_2, (self.norm2, self.mlp), self._ffn, x)
            return x + self.drop_path(y)
        x = self._add_branch(x, self.attn.forward_scaled(self.norm1(x), self.layer_scale_1))
        return self._add_branch(x, self.mlp.forward_scaled(self.norm2(x), self.layer_scale_2))

    def _mix(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.norm1(x))

    def _ffn(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm2(x))

    def _add_branch(self, x: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        if isinstance(self.drop_path, nn.Identity):
            return branch.add_(x)  # ``branch`` is a fresh tensor no backward formula reads
        return x + self.drop_path(branch)

    def fuse(self, counts: FoldCounts) -> nn.Module:
        """For inference: the block with its BNs and scales folded, :class:`FusedMogaBlock`."""
        counts['batchnorm'] += 2
        counts['scale'] += 3  # two layer scales and the FFN's 1 + sigma
        counts['block'] += 1
        return FusedMogaBlock(self)


class FusedMogaBlock(nn.Module):
    """A :class:`MogaBlock` in eval mode with its BNs and scales folded; computes the same function
    within fp32 rounding (:func:`~mmmoga.models.utils.fusion.fuse_for_inference` builds it).

    ``norm1`` goes into ``proj_1`` and, with the block's inner residual and ``layer_scale_1``, into
    one ``x * c + proj_2(...)``; ``norm2`` into ``fc1``; ``layer_scale_2`` and the FFN's channel
    re-allocation ``h + sigma * (h - d)`` into ``fc2`` and a rank-one term in the one-channel ``d``;
    the feature decomposition ``x + sigma * (x - GAP(x))`` becomes one multiply-add. The per-stage
    ``norm{i}`` stay (their output is both returned and fed to a padded conv), and the module names
    ``blocks{i}.{j}`` now hold fused blocks.
    """

    def __init__(self, block: nn.Module):
        super().__init__()
        attn, mlp = block.attn, block.mlp
        self.force_fp32 = attn.force_fp32
        s1, t1 = bn_affine(block.norm1)
        s2, t2 = bn_affine(block.norm2)
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


class StackConvPatchEmbed(nn.Module):
    """Stem: conv 3x3 s2 -> BN -> GELU -> conv 3x3 s2 -> BN (stride 4)."""

    def __init__(self, in_channels: int, channels: int, norm_cfg: dict):
        super().__init__()
        self.projection = nn.Sequential(
            nn.Conv2d(in_channels, channels // 2, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, channels // 2)[1],
            nn.GELU(),
            nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1),
            build_norm_layer(norm_cfg, channels)[1],
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)


class ConvPatchEmbed(nn.Module):
    """Downsampler: conv 3x3 s2 -> BN."""

    def __init__(self, in_channels: int, channels: int, norm_cfg: dict):
        super().__init__()
        self.projection = nn.Conv2d(in_channels, channels, 3, stride=2, padding=1)
        self.norm = build_norm_layer(norm_cfg, channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.projection(x))

    def fuse(self, counts: FoldCounts) -> nn.Module:
        """For inference: the BN folded into the conv."""
        if foldable_bn(self.norm):
            scale_output(self.projection, *bn_affine(self.norm))
            self.norm = nn.Identity()
            counts['batchnorm'] += 1
        return self


@register_model()
class MogaNet(BaseBackbone):
    """MogaNet backbone for detection, segmentation, pose and classification.

    Returns a tuple of NCHW features ``norm{i+1}(stage i)`` for ``i in out_indices`` (strides 4, 8,
    16, 32). The per-stage BN ``norm{i}`` is part of the trunk (its output feeds the next stage), as
    in the official model; for ImageNet classification, use ``out_indices=(3, )`` with a global
    average pooling neck and a linear head.

    Args:
        arch: variant name or alias (``'xtiny'``/``'xt'``, ``'tiny'``/``'t'``, ``'small'``/``'s'``,
            ``'base'``/``'b'``, ``'large'``/``'l'``, ``'xlarge'``/``'xl'``) or a dict with keys
            ``embed_dims``, ``depths``, ``ffn_ratios``.
        in_channels: input channels.
        out_indices: stages whose outputs are returned.
        frozen_stages: freeze the stem and stages ``0..frozen_stages``; -1 freezes nothing.
        norm_eval: keep every BN in eval mode during training.
        with_cp: checkpoint each block's activations (non-reentrant) to save memory.
        drop_rate: dropout inside the FFN.
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        layer_scale_init_value: initial value of the layer scales.
        norm_cfg: norm of the stem, downsamplers, blocks and stage outputs (official: BN).
        attn_force_fp32: the official option: gating in fp32 with autocast off, and, as released,
            SiLU applied twice to gate and value on that path (a different function; see
            :class:`MultiOrderGatedAggregation`). Released weights use False.
        reference_ops: True: compute each block op by op as the official code does; False: with
            its scales folded into the 1x1 convolutions and the CPU kernels (the same function
            and parameters within fp32 rounding; see :class:`MogaBlock` and
            :class:`~mmmoga.models.backbones.base_backbone.BaseBackbone`); None: the folded form
            where it measured faster (:data:`MEASURED_FAST_OPS`), else the official ops.
        channels_last: compute in the channels-last memory layout (see
            :class:`~mmmoga.models.backbones.base_backbone.BaseBackbone`); None: where it measured
            faster (:data:`MEASURED_CHANNELS_LAST`).
        init_cfg: ``dict(type='Pretrained', checkpoint=<url or path>)`` loads an official release.
            Without it, weights get the official init (see :meth:`_init_weights`).
    """
    arch_zoo = {
        **dict.fromkeys(['xt', 'xtiny', 'x-tiny'], dict(
            embed_dims=[32, 64, 96, 192], depths=[3, 3, 10, 2], ffn_ratios=[8, 8, 4, 4])),
        **dict.fromkeys(['t', 'tiny'], dict(
            embed_dims=[32, 64, 128, 256], depths=[3, 3, 12, 2], ffn_ratios=[8, 8, 4, 4])),
        **dict.fromkeys(['s', 'small'], dict(
            embed_dims=[64, 128, 320, 512], depths=[2, 3, 12, 2], ffn_ratios=[8, 8, 4, 4])),
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=[64, 160, 320, 512], depths=[4, 6, 22, 3], ffn_ratios=[8, 8, 4, 4])),
        **dict.fromkeys(['l', 'large'], dict(
            embed_dims=[64, 160, 320, 640], depths=[4, 6, 44, 4], ffn_ratios=[8, 8, 4, 4])),
        **dict.fromkeys(['xl', 'xlarge', 'x-large'], dict(
            embed_dims=[96, 192, 480, 960], depths=[6, 6, 44, 4], ffn_ratios=[8, 8, 4, 4])),
    }  # yapf: disable
    arch_keys = frozenset({'embed_dims', 'depths', 'ffn_ratios'})
    named_models = {
        **{
            f'moganet_{size}': dict(arch=size)
            for size in ('xt', 't', 's', 'b', 'l', 'xl')
        },
        'moganet_xt_256': dict(arch='xt'),  # trained at 256x256
    }
    uses_cpu_kernels = True
    uses_gpu_kernels = True
    measured_fast_ops = MEASURED_FAST_OPS
    measured_channels_last = MEASURED_CHANNELS_LAST

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 *,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-5,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Union[dict, List[dict], None] = None,
                 attn_force_fp32: bool = False,
                 reference_ops: Optional[bool] = None,
                 channels_last: Optional[bool] = None,
                 **kwargs):
        super().__init__(
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            init_cfg=init_cfg,
            channels_last=channels_last,
            reference_ops=reference_ops,
            **kwargs)
        self.arch_settings = self.parse_arch(arch)
        self.embed_dims = self.arch_settings['embed_dims']
        depths = self.arch_settings['depths']
        self.with_cp = with_cp
        norm_cfg = norm_cfg or dict(type='BN')

        dpr = self.drop_path_rates(drop_path_rate, depths)
        for i, dims in enumerate(self.embed_dims):
            if i == 0:
                patch_embed = StackConvPatchEmbed(in_channels, dims, norm_cfg)
            else:
                patch_embed = ConvPatchEmbed(self.embed_dims[i - 1], dims, norm_cfg)
            blocks = nn.ModuleList([
                MogaBlock(dims, self.arch_settings['ffn_ratios'][i], drop_rate, rate,
                          layer_scale_init_value, norm_cfg, attn_force_fp32, reference_ops,
                          self.measured_fast_ops) for rate in dpr[i]
            ])
            self.add_module(f'patch_embed{i + 1}', patch_embed)
            self.add_module(f'blocks{i + 1}', blocks)
            self.add_module(f'norm{i + 1}', build_norm_layer(norm_cfg, dims)[1])
        self.apply(self._init_weights)
        self._freeze_stages()

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        """The official init (``MogaNet._init_weights``): Conv2d weights normal with std
        ``sqrt(2 / fan_out)``, ``fan_out = k_h * k_w * out_channels // groups``; Linear weights
        truncated normal (std .02); zero biases. Norms keep weight 1, bias 0 (PyTorch's
        default, as the official init sets), layer scales and the ``sigma`` scales their
        constructor values (``layer_scale_init_value``, 1e-5)."""
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0, (2.0 / fan_out)**0.5)
        elif isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=.02)
        else:
            return
        if m.bias is not None:
            nn.init.zeros_(m.bias)

    def stage_modules(self, index: int) -> List[nn.Module]:
        return [getattr(self, f'{name}{index + 1}') for name in ('patch_embed', 'blocks', 'norm')]

    def get_layer_id(self, param_name: str, num_layers: int, decay_type: str = 'layer_wise') -> int:
        """Official MogaNet ids (``LearningRateDecayOptimizerConstructorMogaNet``).

        layer_wise: stem 0, stage 1 -> 2, stage 2 -> 3, ``patch_embed3`` -> 4, ``blocks3.j`` ->
        min(3 + j // 2, 11), stage 4 -> ``num_layers``; the stage norms -> ``num_layers + 1``.
        stage_wise: downsamplers 0, ``blocks{i}.j`` -> j + 1 (the official rule reads the block
        index, not the stage index; kept as released), the rest ``num_layers + 1``.
        """
        if decay_type not in ('layer_wise', 'stage_wise'):
            raise ValueError(f"decay_type must be 'layer_wise' or 'stage_wise', got {decay_type!r}")
        parts = param_name.split('.')
        kind = parts[0].rstrip('0123456789')
        if kind not in ('patch_embed', 'blocks'):
            return num_layers + 1
        stage = int(parts[0][len(kind):])
        if decay_type == 'stage_wise':
            return 0 if kind == 'patch_embed' else int(parts[1]) + 1
        if stage == 4:
            return num_layers
        if kind == 'patch_embed':
            return {1: 0, 2: 3, 3: 4}[stage]
        return {1: 2, 2: 3}.get(stage) or min(3 + int(parts[1]) // 2, 11)

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        patch_embed, blocks, norm = self.stage_modules(index)
        return norm(self.run_blocks(blocks, patch_embed(x)))

    def stage_output(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return x  # the stage's own norm (``norm{index + 1}``) ends the stage
