"""Conv2Former: a simple transformer-style ConvNet for visual recognition.

Paper: `Conv2Former: A Simple Transformer-Style ConvNet for Visual Recognition
<https://arxiv.org/abs/2211.11943>`_ (TPAMI 2024).
Official code: https://github.com/HVision-NKU/Conv2Former (classification only; the weights are on
Baidu Yun).

State-dict keys follow the official ``models/conv2former.py`` (``downsample_layers.{i}``,
``stages.{i}.{j}``, ``head``, ``pred``), so the released checkpoints load without conversion.
"""
from typing import List, Optional, Sequence, Union

import torch
from torch import nn

from mmmoga.registry import register_model
from ..layers import (DropPath, LayerNorm2d, build_norm_layer, conv2d_act, depthwise_conv2d,
                      layer_scaled)
from ..layers.folding import FoldCounts, scale_output
from .base_backbone import BaseBackbone, convnext_layer_id

__all__ = ['Conv2Former']

#: official init: trunc-normal(std .02) for every Conv2d/Linear weight, zero biases
_OFFICIAL_INIT = dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.)


class ConvModulation(nn.Module):
    """Convolutional modulation (the official ``SpatialAttention``).

    ``proj(DW_kxk(GELU(conv1x1(LN(x)))) * v(LN(x)))``: a large-kernel depth-wise conv produces the
    weights that modulate the value ``v``. There is no inner residual. The GELU is fused into its
    conv where :func:`~mmmoga.models.layers.conv2d_act` can, and the large depth-wise conv goes
    through :func:`~mmmoga.models.layers.depthwise_conv2d`.
    """

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.norm = LayerNorm2d(channels, eps=1e-6)
        self.att = nn.Sequential(
            nn.Conv2d(channels, channels, 1),
            nn.GELU(),
            nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels),
        )
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        att = depthwise_conv2d(conv2d_act(x, self.att[0], 'gelu'), self.att[2])
        return self.proj(att * self.v(x))


class ConvFFN(nn.Module):
    """The official ``MLP``: LN, 1x1 expand, GELU, ``x + GELU(DW3x3(x))``, 1x1 reduce (the GELUs
    fused into their convs where :func:`~mmmoga.models.layers.conv2d_act` can)."""

    def __init__(self, channels: int, mlp_ratio: int = 4):
        super().__init__()
        hidden = channels * mlp_ratio
        self.norm = LayerNorm2d(channels, eps=1e-6)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.pos = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = conv2d_act(self.norm(x), self.fc1, 'gelu')
        x = x + conv2d_act(x, self.pos, 'gelu')
        return self.fc2(x)


class Conv2FormerBlock(nn.Module):
    """``x + drop_path(ls1 * ConvMod(x))`` then ``x + drop_path(ls2 * FFN(x))``; the norms live in
    the sub-modules and both layer scales start at ``layer_scale_init_value`` (1e-6, hard-coded in
    the official model). Each
    scaled branch goes through :func:`~mmmoga.models.layers.layer_scaled` (its gradients survive
    fp16)."""

    def __init__(self,
                 channels: int,
                 kernel_size: int,
                 mlp_ratio: int = 4,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-6):
        super().__init__()
        self.attn = ConvModulation(channels, kernel_size)
        self.mlp = ConvFFN(channels, mlp_ratio)
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(channels))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(channels))
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = layer_scaled(self.layer_scale_1[:, None, None], (self.attn, ), self.attn, x)
        x = x + self.drop_path(y)
        y = layer_scaled(self.layer_scale_2[:, None, None], (self.mlp, ), self.mlp, x)
        return x + self.drop_path(y)

    def fuse(self, counts: FoldCounts) -> nn.Module:
        """For inference: the block with its layer scales folded, :class:`FusedConv2FormerBlock`."""
        counts['scale'] += 2
        counts['block'] += 1
        return FusedConv2FormerBlock(self)


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


@register_model()
class Conv2Former(BaseBackbone):
    """Conv2Former backbone for detection, segmentation, pose and classification.

    Returns a tuple of NCHW stage outputs for ``i in out_indices`` (strides 4, 8, 16, 32; channels
    ``embed_dims``), optionally passed through a new per-output norm (``out_norm_cfg``; the official
    repository has no dense-prediction code, so these norms, ``out_indices`` and freezing are this
    package's design).

    Classification (``with_cls_head=True``): the official classifier applies its ``head`` (1x1 conv
    C4 -> 1280, GELU, channels-first LN) to every pixel *before* the global average pooling, so a
    plain pooling neck + linear head cannot reproduce it. With ``with_cls_head=True`` the backbone
    owns that ``head`` and returns the pooled ``(N, 1280)`` pre-logits in place of the stage-3
    output; pair it with ``neck=None`` and ``LinearClsHead(in_channels=1280)`` in mmpretrain (its
    ``fc`` is the official ``pred``). A released checkpoint then loads ``head.*`` into the backbone;
    ``pred.*`` is dropped (map it to ``head.fc.*`` to load it into the mmpretrain head).

    Layer-wise LR decay (:meth:`get_layer_id`) uses ConvNeXt's rules, since the key layout is the
    same (``downsample_layers.{i}``, ``stages.{i}.{j}``).

    Inference fusion folds the stem's second BN into the unpadded stride-2 conv after it; the first
    BN stays (a padded conv follows it), and ``stages.{i}.{j}`` become
    :class:`FusedConv2FormerBlock`.

    Args:
        arch: variant name or alias (``'nano'``/``'n'``, ``'tiny'``/``'t'``, ``'small'``/``'s'``,
            ``'base'``/``'b'``, ``'base-22k'``/``'b-22k'`` (the official ``conv2former_b_22k``,
            kernel 7), ``'large'``/``'l'``) or a dict with keys ``embed_dims``, ``depths``,
            ``mlp_ratios`` (4 in every official variant) and ``kernel_size``.
        in_channels: input channels.
        kernel_size: depth-wise kernel of the convolutional modulation; ``None`` takes the arch's.
            The current official N uses 7 (11 before January 2025 and in the Jittor copy), every
            other variant 11. The kernel of a checkpoint is checked when it loads.
        out_indices: stages whose outputs are returned.
        frozen_stages: freeze the stem and stages ``0..frozen_stages`` (with their output norms;
            stage 3 includes the classification ``head``); -1 freezes nothing.
        norm_eval: keep every BN (the stem's; BN output norms) in eval mode during training.
        with_cp: checkpoint each block's activations (non-reentrant) to save memory.
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        layer_scale_init_value: initial value of the layer scales. Defaults to 1e-6 (official).
        with_cls_head: build the official ``head`` and return the pooled 1280-d pre-logits as the
            last output (needs ``3 in out_indices``).
        head_channels: width of the classification ``head``. Defaults to 1280 (official).
        out_norm_cfg: a new norm on each returned feature map, e.g. ``dict(type='LN2d')`` (as
            ConvNeXt's dense backbones) or ``dict(type='SyncBN')``; ``None`` (default) returns the
            raw stage outputs. Keys ``norm{i}``, absent from ImageNet checkpoints.
        norm_cfg: norm of the stem (official: BN).
        channels_last: compute in the channels-last memory layout (see
            :class:`~mmmoga.models.backbones.base_backbone.BaseBackbone`); None: where it
            measured faster (``measured_channels_last``), else channels-first.
        reference_ops: True: compute with the plain PyTorch ops, as the official code does (no
            CPU or GPU kernels; see :class:`~mmmoga.models.backbones.base_backbone.BaseBackbone`),
            for speed comparisons and tests; None (default) or False: the kernels as switched.
        init_cfg: defaults to the official init (trunc-normal std .02 for Conv2d/Linear, zero
            bias); ``dict(type='Pretrained', checkpoint=<path or url>)`` loads an official release
            (``state_dict``/``state_dict_ema`` wrappers and ``backbone.`` prefixes are handled).

    Example:
        >>> import torch
        >>> model = Conv2Former('n', out_indices=(0, 1, 2, 3)).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 224, 224))]
        [(1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7)]
    """
    arch_zoo = {
        **dict.fromkeys(['n', 'nano'], dict(
            embed_dims=[64, 128, 256, 512], depths=[2, 2, 8, 2], mlp_ratios=[4, 4, 4, 4],
            kernel_size=7)),
        **dict.fromkeys(['t', 'tiny'], dict(
            embed_dims=[72, 144, 288, 576], depths=[3, 3, 12, 3], mlp_ratios=[4, 4, 4, 4],
            kernel_size=11)),
        **dict.fromkeys(['s', 'small'], dict(
            embed_dims=[72, 144, 288, 576], depths=[4, 4, 32, 4], mlp_ratios=[4, 4, 4, 4],
            kernel_size=11)),
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=[96, 192, 384, 768], depths=[4, 4, 34, 4], mlp_ratios=[4, 4, 4, 4],
            kernel_size=11)),
        **dict.fromkeys(['b-22k', 'b_22k', 'base-22k', 'base_22k'], dict(
            embed_dims=[96, 192, 384, 768], depths=[4, 4, 34, 4], mlp_ratios=[4, 4, 4, 4],
            kernel_size=7)),
        **dict.fromkeys(['l', 'large'], dict(
            embed_dims=[128, 256, 512, 1024], depths=[4, 4, 48, 4], mlp_ratios=[4, 4, 4, 4],
            kernel_size=11)),
    }  # yapf: disable
    arch_keys = frozenset({'embed_dims', 'depths', 'mlp_ratios', 'kernel_size'})
    named_models = {f'conv2former_{size}': dict(arch=size) for size in ('n', 't', 's', 'b', 'l')}
    classification_form = dict(with_cls_head=True, out_indices=(3, ))
    uses_cpu_kernels = True
    uses_gpu_kernels = True
    classifier_prefixes = ('head.', 'pred.')
    fresh_prefixes = ('norm', )

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 *,
                 in_channels: int = 3,
                 kernel_size: Optional[int] = None,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-6,
                 with_cls_head: bool = False,
                 head_channels: int = 1280,
                 out_norm_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 channels_last: Optional[bool] = None,
                 reference_ops: Optional[bool] = None,
                 init_cfg: Union[dict, List[dict], None] = _OFFICIAL_INIT,
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
        self.embed_dims = list(self.arch_settings['embed_dims'])
        depths = self.arch_settings['depths']
        self.kernel_size = kernel_size or self.arch_settings['kernel_size']
        if self.kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd (the official padding is k // 2), '
                             f'got {self.kernel_size}')
        self.set_cls_head(with_cls_head)
        self.with_cp = with_cp
        norm_cfg = norm_cfg or dict(type='BN')
        if with_cls_head:
            self.classifier_prefixes = ('pred.', )

        dims = self.embed_dims
        self.downsample_layers = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(in_channels, dims[0] // 2, 3, stride=2, padding=1, bias=False),
                nn.GELU(),
                build_norm_layer(norm_cfg, dims[0] // 2)[1],
                nn.Conv2d(dims[0] // 2, dims[0] // 2, 3, stride=1, padding=1, bias=False),
                nn.GELU(),
                build_norm_layer(norm_cfg, dims[0] // 2)[1],
                nn.Conv2d(dims[0] // 2, dims[0], 2, stride=2, bias=False),
            )
        ])
        for i in range(1, self.num_stages):
            self.downsample_layers.append(
                nn.Sequential(
                    LayerNorm2d(dims[i - 1], eps=1e-6),
                    nn.Conv2d(dims[i - 1], dims[i], 2, stride=2),
                ))

        dpr = self.drop_path_rates(drop_path_rate, depths)
        self.stages = nn.ModuleList([
            nn.Sequential(*[
                Conv2FormerBlock(dims[i], self.kernel_size, self.arch_settings['mlp_ratios'][i],
                                 rate, layer_scale_init_value) for rate in dpr[i]
            ]) for i in range(self.num_stages)
        ])

        self.add_out_norms(out_norm_cfg)
        if with_cls_head:
            self.head = nn.Sequential(
                nn.Conv2d(dims[-1], head_channels, 1),
                nn.GELU(),
                LayerNorm2d(head_channels, eps=1e-6),
            )
        self._freeze_stages()

    def stage_modules(self, index: int) -> List[nn.Module]:
        return [self.downsample_layers[index], self.stages[index], *self.output_modules(index)]

    def pooled_output(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x).mean((2, 3))  # the official head runs on every pixel, then pools

    def filter_checkpoint(self, state_dict: dict) -> dict:
        """Drop the classifier and check that the checkpoint's kernel size is the model's."""
        key = 'stages.0.0.attn.att.2.weight'
        if key in state_dict and state_dict[key].shape[-1] != self.kernel_size:
            k = state_dict[key].shape[-1]
            raise ValueError(f'The checkpoint was trained with kernel_size={k}, this model has '
                             f'kernel_size={self.kernel_size}; build Conv2Former(kernel_size={k})')
        return super().filter_checkpoint(state_dict)

    def output_channels(self, index: int) -> int:
        if self.output_is_pooled(index):
            return self.head[0].out_channels
        return self.embed_dims[index]

    def get_layer_id(self, param_name: str, num_layers: int, decay_type: str = 'layer_wise') -> int:
        """mmdet's ConvNeXt rules (``get_layer_id_for_convnext`` / ``get_stage_id_for_convnext``).

        layer_wise: ``downsample_layers.0`` (stem) -> 0, ``stages.0`` -> 1, ``downsample_layers.1``
        and ``stages.1`` -> 2, ``downsample_layers.2`` -> 3, ``stages.2.j`` -> ``3 + j // 3``
        (capped at ``num_layers - 1`` so that deep variants stay below the last stage),
        ``downsample_layers.3`` and ``stages.3`` -> ``num_layers``; everything else (output norms,
        ``head``) -> ``num_layers + 1``.
        stage_wise: downsamplers -> 0, ``stages.i`` -> ``i + 1``, everything else ->
        ``num_layers + 1``.
        """
        if decay_type not in ('layer_wise', 'stage_wise'):
            raise ValueError(f"decay_type must be 'layer_wise' or 'stage_wise', got {decay_type!r}")
        parts = param_name.split('.')
        if parts[0] == 'downsample_layers':
            return convnext_layer_id(int(parts[1]), None, num_layers, decay_type, cap=True)
        if parts[0] == 'stages':
            return convnext_layer_id(int(parts[1]), int(parts[2]), num_layers, decay_type, cap=True)
        return num_layers + 1

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return self.run_blocks(self.stages[index], self.downsample_layers[index](x))
