"""InceptionNeXt: when Inception meets ConvNeXt.

Paper: `InceptionNeXt: When Inception Meets ConvNeXt <https://arxiv.org/abs/2303.16900>`_
(CVPR 2024).
Official code and weights: https://github.com/sail-sg/inceptionnext (also in timm as
``inception_next_*``, with the same parameter names).

State-dict keys follow the official ``models/inceptionnext.py`` (``stem``,
``stages.{i}.downsample``, ``stages.{i}.blocks.{j}``, ``head``), so the released ``.pth`` files
(raw state dicts) load without conversion. The converter
``tools/model_converters/inceptionnext_timm_to_official.py`` maps timm ``features_only`` and
mmpretrain layouts to these keys.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from mmmoga.registry import register_model
from mmmoga.utils.checkpoint.state_dict import official_state_dict
from ..layers import DropPath, build_norm_layer, conv2d_act, layer_scaled
from ..layers.folding import FoldCounts, bn_affine, foldable_bn, scale_input, scale_output
from .base_backbone import BaseBackbone, convnext_layer_id

__all__ = ['InceptionNeXt', 'convert_inceptionnext_timm']

#: official init: trunc-normal(std .02) for every Conv2d/Linear weight, zero biases
_OFFICIAL_INIT = dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.)


class InceptionDWConv2d(nn.Module):
    """Inception depth-wise conv: split the channels into ``(C - 3g, g, g, g)`` with
    ``g = int(C * branch_ratio)``; keep the first group, and run DW 3x3, DW 1xk and DW kx1 on the
    other three; concatenate in that order."""

    def __init__(self,
                 channels: int,
                 square_kernel_size: int = 3,
                 band_kernel_size: int = 11,
                 branch_ratio: float = 0.125):
        super().__init__()
        gc = int(channels * branch_ratio)
        self.dwconv_hw = nn.Conv2d(
            gc, gc, square_kernel_size, padding=square_kernel_size // 2, groups=gc)
        self.dwconv_w = nn.Conv2d(
            gc, gc, (1, band_kernel_size), padding=(0, band_kernel_size // 2), groups=gc)
        self.dwconv_h = nn.Conv2d(
            gc, gc, (band_kernel_size, 1), padding=(band_kernel_size // 2, 0), groups=gc)
        self.split_sizes = (channels - 3 * gc, gc, gc, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_id, x_hw, x_w, x_h = torch.split(x, self.split_sizes, dim=1)
        return torch.cat((x_id, self.dwconv_hw(x_hw), self.dwconv_w(x_w), self.dwconv_h(x_h)), 1)


class ConvMlp(nn.Module):
    """1x1 conv MLP: ``fc2(drop(GELU(fc1(x))))`` (the GELU fused into ``fc1`` where
    :func:`~mmmoga.models.layers.conv2d_act` can)."""

    def __init__(self, channels: int, hidden_channels: int, drop_rate: float = 0.):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden_channels, 1)
        self.drop = nn.Dropout(drop_rate)
        self.fc2 = nn.Conv2d(hidden_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(conv2d_act(x, self.fc1, 'gelu')))


class MlpPreLogits(nn.Module):
    """The official ``MlpHead`` without its final ``fc2``: global average pooling, ``fc1``
    (C -> ratio * C), GELU, LayerNorm (eps 1e-6), dropout. Keys ``fc1``, ``norm``."""

    def __init__(self, channels: int, mlp_ratio: float = 3, drop_rate: float = 0.):
        super().__init__()
        hidden = int(mlp_ratio * channels)
        self.fc1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(hidden, eps=1e-6)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.norm(self.act(self.fc1(x.mean((2, 3))))))


class InceptionNeXtBlock(nn.Module):
    """MetaNeXt block: ``x + drop_path(gamma * MLP(BN(InceptionDWConv(x))))`` (the norm comes
    after the token mixer; ``gamma`` has shape ``(C, )``; the scaled branch goes through
    :func:`~mmmoga.models.layers.layer_scaled`, so its gradients survive fp16)."""

    def __init__(self,
                 channels: int,
                 mlp_ratio: float = 4,
                 band_kernel_size: int = 11,
                 branch_ratio: float = 0.125,
                 layer_scale_init_value: Optional[float] = 1e-6,
                 drop_path_rate: float = 0.,
                 norm_cfg: Optional[dict] = None):
        super().__init__()
        self.token_mixer = InceptionDWConv2d(
            channels, band_kernel_size=band_kernel_size, branch_ratio=branch_ratio)
        self.norm = build_norm_layer(norm_cfg or dict(type='BN'), channels)[1]
        self.mlp = ConvMlp(channels, int(mlp_ratio * channels))
        # official: layer_scale_init_value=0/None disables the layer scale (no ``gamma`` key)
        self.gamma = nn.Parameter(layer_scale_init_value *
                                  torch.ones(channels)) if layer_scale_init_value else None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma = None if self.gamma is None else self.gamma[:, None, None]
        return x + self.drop_path(
            layer_scaled(gamma, (self.token_mixer, self.norm, self.mlp), self._branch, x))

    def _branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm(self.token_mixer(x)))

    def fuse(self, counts: FoldCounts) -> nn.Module:
        """For inference: the BN folded into ``mlp.fc1`` (unpadded) and the layer scale into
        ``mlp.fc2``."""
        if foldable_bn(self.norm):
            scale_input(self.mlp.fc1, *bn_affine(self.norm))
            self.norm = nn.Identity()
            counts['batchnorm'] += 1
        if self.gamma is not None:
            scale_output(self.mlp.fc2, self.gamma.detach())
            self.gamma = None
            counts['scale'] += 1
        return self


class InceptionNeXtStage(nn.Module):
    """``downsample`` (Identity for the first stage, else BN + conv 2x2 s2) then ``blocks``."""

    def __init__(self, in_channels: int, channels: int, depth: int, downsample: bool,
                 drop_path_rates: Sequence[float], norm_cfg: dict, **block_kwargs):
        super().__init__()
        if downsample:
            self.downsample = nn.Sequential(
                build_norm_layer(norm_cfg, in_channels)[1],
                nn.Conv2d(in_channels, channels, 2, stride=2),
            )
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(*[
            InceptionNeXtBlock(
                channels, drop_path_rate=drop_path_rates[j], norm_cfg=norm_cfg, **block_kwargs)
            for j in range(depth)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


@register_model()
class InceptionNeXt(BaseBackbone):
    """InceptionNeXt backbone for detection, segmentation, pose and classification.

    Returns a tuple of NCHW stage outputs for ``i in out_indices`` (strides 4, 8, 16, 32; channels
    ``embed_dims``). The official stage outputs are un-normalised (each downsampler starts with a
    BN); for segmentation the authors replaced BN by SyncBN and added a new SyncBN on each stage
    output (sail-sg/inceptionnext#11): ``norm_cfg=dict(type='SyncBN')`` and
    ``out_norm_cfg=dict(type='SyncBN')`` reproduce that (new keys ``norm{i}``, expected to be
    missing from ImageNet checkpoints).

    Classification (``with_cls_head=True``): the official ``MlpHead`` is pooling, ``fc1`` (C ->
    3C), GELU, LayerNorm, dropout, ``fc2`` (3C -> classes). The backbone owns everything up to the
    pre-logits (keys ``head.fc1``, ``head.norm``, so a release loads them) and returns the pooled
    ``(N, 3C)`` vector in place of the stage-3 output; pair it with ``neck=None`` and
    ``LinearClsHead(in_channels=3 * C4)``, whose ``fc`` is the official ``head.fc2`` (dropped when
    loading through ``init_cfg``; the converter maps it to ``head.fc``).

    Layer-wise LR decay (:meth:`get_layer_id`) uses ConvNeXt's rules on the equivalent modules:
    ``stem`` = ConvNeXt ``downsample_layers.0``, ``stages.{i}.downsample`` =
    ``downsample_layers.{i}``, ``stages.{i}.blocks.{j}`` = ``stages.{i}.{j}``.

    Args:
        arch: variant name or alias (``'atto'``/``'a'``, ``'tiny'``/``'t'``, ``'small'``/``'s'``,
            ``'base'``/``'b'``; ``base_384`` is ``base`` at 384) or a dict with keys
            ``embed_dims``, ``depths``, ``mlp_ratios`` (official: 4, 4, 4, 3),
            ``band_kernel_size`` (atto 9, else 11) and ``branch_ratio`` (atto 0.25, else 0.125).
        in_channels: input channels.
        out_indices: stages whose outputs are returned.
        frozen_stages: freeze the stem and stages ``0..frozen_stages`` (with their output norms;
            stage 3 includes the classification head); -1 freezes nothing.
        norm_eval: keep every BN in eval mode during training.
        with_cp: checkpoint each block's activations (non-reentrant) to save memory.
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        layer_scale_init_value: initial value of ``gamma``; 0 or None builds no layer scale (as the
            official ``MetaNeXtBlock``). Defaults to 1e-6 (official).
        norm_cfg: norm of the stem, downsamplers and blocks (official: BN; ``SyncBN`` for
            segmentation).
        out_norm_cfg: a new norm on each returned feature map (``dict(type='SyncBN')`` as the
            authors' segmentation runs); ``None`` (default) returns the raw stage outputs.
        with_cls_head: build the official head up to the pre-logits and return its pooled
            ``(N, head_mlp_ratio * C4)`` output as the last output (needs ``3 in out_indices``).
        head_mlp_ratio: hidden ratio of the head. Defaults to 3 (official).
        drop_rate: dropout after the head's LayerNorm (official ``drop_rate``; 0.5 for base_384).
        channels_last: compute in the channels-last memory layout (see
            :class:`~mmmoga.models.backbones.base_backbone.BaseBackbone`); None: where it
            measured faster (``measured_channels_last``), else channels-first.
        reference_ops: True: compute with the plain PyTorch ops, as the official code does (no
            CPU or GPU kernels; see :class:`~mmmoga.models.backbones.base_backbone.BaseBackbone`),
            for speed comparisons and tests; None (default) or False: the kernels as switched.
        init_cfg: defaults to the official init (trunc-normal std .02 for Conv2d/Linear, zero
            bias); ``dict(type='Pretrained', checkpoint=<path or url>)`` loads an official release.

    Example:
        >>> import torch
        >>> model = InceptionNeXt('atto', out_indices=(0, 1, 2, 3)).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 224, 224))]
        [(1, 40, 56, 56), (1, 80, 28, 28), (1, 160, 14, 14), (1, 320, 7, 7)]
    """
    arch_zoo = {
        **dict.fromkeys(['a', 'atto'], dict(
            embed_dims=[40, 80, 160, 320], depths=[2, 2, 6, 2], mlp_ratios=[4, 4, 4, 3],
            band_kernel_size=9, branch_ratio=0.25)),
        **dict.fromkeys(['t', 'tiny'], dict(
            embed_dims=[96, 192, 384, 768], depths=[3, 3, 9, 3], mlp_ratios=[4, 4, 4, 3],
            band_kernel_size=11, branch_ratio=0.125)),
        **dict.fromkeys(['s', 'small'], dict(
            embed_dims=[96, 192, 384, 768], depths=[3, 3, 27, 3], mlp_ratios=[4, 4, 4, 3],
            band_kernel_size=11, branch_ratio=0.125)),
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=[128, 256, 512, 1024], depths=[3, 3, 27, 3], mlp_ratios=[4, 4, 4, 3],
            band_kernel_size=11, branch_ratio=0.125)),
    }  # yapf: disable
    arch_keys = frozenset(
        {'embed_dims', 'depths', 'mlp_ratios', 'band_kernel_size', 'branch_ratio'})
    named_models = {
        **{
            f'inceptionnext_{size}': dict(arch=size)
            for size in ('a', 't', 's', 'b')
        },
        'inceptionnext_b_384': dict(arch='b'),
    }
    classification_form = dict(with_cls_head=True, out_indices=(3, ))
    uses_cpu_kernels = True
    classifier_prefixes = ('head.', )
    fresh_prefixes = ('norm', )

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 *,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: Optional[float] = 1e-6,
                 norm_cfg: Optional[dict] = None,
                 out_norm_cfg: Optional[dict] = None,
                 with_cls_head: bool = False,
                 head_mlp_ratio: float = 3,
                 drop_rate: float = 0.,
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
        branch_ratio = self.arch_settings['branch_ratio']
        if not 0 < branch_ratio <= 1 / 3:
            raise ValueError(f'branch_ratio must be in (0, 1/3] (three branches of '
                             f'int(C * ratio) channels each), got {branch_ratio}')
        self.set_cls_head(with_cls_head)
        self.with_cp = with_cp
        norm_cfg = norm_cfg or dict(type='BN')
        if with_cls_head:
            self.classifier_prefixes = ('head.fc2.', )

        dims = self.embed_dims
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, dims[0], 4, stride=4),
            build_norm_layer(norm_cfg, dims[0])[1],
        )
        dpr = self.drop_path_rates(drop_path_rate, depths)
        self.stages = nn.ModuleList([
            InceptionNeXtStage(
                dims[i - 1] if i else dims[0],
                dims[i],
                depth,
                downsample=i > 0,
                drop_path_rates=dpr[i],
                norm_cfg=norm_cfg,
                mlp_ratio=self.arch_settings['mlp_ratios'][i],
                band_kernel_size=self.arch_settings['band_kernel_size'],
                branch_ratio=branch_ratio,
                layer_scale_init_value=layer_scale_init_value) for i, depth in enumerate(depths)
        ])
        self.add_out_norms(out_norm_cfg)
        if with_cls_head:
            self.head = MlpPreLogits(dims[-1], head_mlp_ratio, drop_rate)
        self._freeze_stages()

    def stage_modules(self, index: int) -> List[nn.Module]:
        modules = [self.stem] if index == 0 else []
        return modules + [self.stages[index], *self.output_modules(index)]

    def pooled_output(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)  # MlpPreLogits pools first

    def output_channels(self, index: int) -> int:
        if self.output_is_pooled(index):
            return self.head.fc1.out_features
        return self.embed_dims[index]

    def get_layer_id(self, param_name: str, num_layers: int, decay_type: str = 'layer_wise') -> int:
        """mmdet's ConvNeXt rules on the equivalent InceptionNeXt modules.

        layer_wise: ``stem`` -> 0, ``stages.0.blocks`` -> 1, ``stages.1.*`` -> 2,
        ``stages.2.downsample`` -> 3, ``stages.2.blocks.j`` -> ``3 + j // 3`` (capped at
        ``num_layers - 1``), ``stages.3.*`` -> ``num_layers``; everything else (output norms,
        ``head``) -> ``num_layers + 1``.
        stage_wise: ``stem`` and downsamplers -> 0, ``stages.i.blocks`` -> ``i + 1``, everything
        else -> ``num_layers + 1``.
        """
        if decay_type not in ('layer_wise', 'stage_wise'):
            raise ValueError(f"decay_type must be 'layer_wise' or 'stage_wise', got {decay_type!r}")
        parts = param_name.split('.')
        if parts[0] == 'stem':
            return convnext_layer_id(0, None, num_layers, decay_type, cap=True)
        if parts[0] == 'stages':
            stage = int(parts[1])
            if parts[2] == 'downsample':
                return convnext_layer_id(stage, None, num_layers, decay_type, cap=True)
            return convnext_layer_id(stage, int(parts[3]), num_layers, decay_type, cap=True)
        return num_layers + 1

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        if index == 0:
            x = self.stem(x)
        stage = self.stages[index]
        return self.run_blocks(stage.blocks, stage.downsample(x))


# ------------------------------------------------------------ other libraries' checkpoints
# (plain functions from a state dict to a state dict, like timm's checkpoint filters)

_NORM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
INCEPTIONNEXT_OFFICIAL_KEY = re.compile(r'^(stem\.0\.(weight|bias)'
                                        rf'|stem\.1\.{_NORM}'
                                        r'|stages\.\d+\.downsample\.1\.(weight|bias)'
                                        rf'|stages\.\d+\.downsample\.0\.{_NORM}'
                                        r'|stages\.\d+\.blocks\.\d+\.(gamma'
                                        r'|token_mixer\.dwconv_(hw|w|h)\.(weight|bias)'
                                        rf'|norm\.{_NORM}'
                                        r'|mlp\.fc[12]\.(weight|bias))'
                                        r'|head\.(fc1|norm|fc2)\.(weight|bias))$')


def convert_inceptionnext_timm(state_dict: Dict[str, torch.Tensor],
                               drop_head: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Map timm / timm ``features_only`` / mmpretrain InceptionNeXt keys to the official ones.

    * timm ``inception_next_*``: same names as the official model, copied as they are;
    * timm ``features_only=True`` (``FeatureListNet`` flattens the top-level Sequentials):
      ``stem_0.*`` -> ``stem.0.*``, ``stages_2.*`` -> ``stages.2.*``;
    * mmpretrain classifiers: ``backbone.`` (and ``TIMMBackbone``'s ``timm_model.``) stripped, the
      ``LinearClsHead`` ``head.fc.*`` -> official ``head.fc2.*``, ``data_preprocessor.*`` dropped.

    Args:
        state_dict: an unwrapped state dict (see :func:`mmmoga.utils.extract_state_dict`).
        drop_head: drop every ``head.*`` key (backbone-only output).

    Raises:
        ValueError: a key has no official counterpart (listed by name), or two keys map to the
            same official key.
    """
    pairs = []
    for key, value in state_dict.items():
        new_key = re.sub(r'^module\.', '', key)
        if new_key.startswith('data_preprocessor.'):
            continue
        new_key = re.sub(r'^head\.fc\.', 'head.fc2.', new_key)
        new_key = re.sub(r'^backbone\.', '', new_key)
        new_key = re.sub(r'^timm_model\.', '', new_key)
        new_key = re.sub(r'^(stem|stages)_(\d+)\.', r'\1.\2.', new_key)
        if not (drop_head and new_key.startswith('head.')):
            pairs.append((key, new_key, value))
    return official_state_dict(pairs, INCEPTIONNEXT_OFFICIAL_KEY, 'InceptionNeXt')
