"""HorNet: high-order spatial interactions with recursive gated convolutions.

Paper: `HorNet: Efficient High-Order Spatial Interactions with Recursive Gated Convolutions
<https://arxiv.org/abs/2207.14284>`_ (NeurIPS 2022).
Official code and weights: https://github.com/raoyongming/HorNet

State-dict keys follow the official ``hornet.py`` (``downsample_layers.{i}``, ``stages.{i}.{j}``,
``gnconv.pws``, bare ``gamma1``/``gamma2``, ``norm``, ``head``) and its dense copies (``norm{i}``),
so the released ImageNet checkpoints load without conversion. mmpretrain's HorNet checkpoints use
other names; ``tools/model_converters/hornet_mmpretrain_to_official.py`` converts them.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger
from torch import nn

from mmmoga.registry import register_model
from mmmoga.utils.checkpoint.state_dict import official_state_dict
from ..layers import DropPath, GnConv, LayerNorm2d, layer_scaled, resize_complex_weight
from ..layers.folding import FoldCounts, scale_output
from .base_backbone import BaseBackbone

__all__ = ['HorNet', 'convert_hornet_mmpretrain', 'HORNET_LAYOUTS']


class HorNetBlock(nn.Module):
    """``x + drop_path(gamma1 * gnConv(LN(x)))``, then ``x + drop_path(gamma2 * MLP(LN(x)))``.

    The first LN is channels-first; the MLP runs channels-last (``norm2`` LayerNorm, ``pwconv1``
    Linear C->4C, GELU, ``pwconv2`` Linear 4C->C). ``gamma1``/``gamma2`` are bare ``(C, )``
    parameters, absent when ``layer_scale_init_value <= 0`` (as in the official block); each scaled
    branch goes through :func:`~mmmoga.models.layers.layer_scaled` (its gradients survive fp16).
    """

    def __init__(self,
                 channels: int,
                 order: int,
                 mixer: str = 'dw',
                 gf_size: Tuple[int, int] = (14, 8),
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-6,
                 mlp_ratio: float = 4.):
        super().__init__()
        hidden = int(mlp_ratio * channels)
        self.norm1 = LayerNorm2d(channels, eps=1e-6)
        self.gnconv = GnConv(
            channels, channels, order, mixer=mixer, kernel_size=7, gf_size=gf_size, scale=1 / 3)
        self.norm2 = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Linear(channels, hidden)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(hidden, channels)
        if layer_scale_init_value > 0:
            self.gamma1 = nn.Parameter(layer_scale_init_value * torch.ones(channels))
            self.gamma2 = nn.Parameter(layer_scale_init_value * torch.ones(channels))
        else:
            self.gamma1 = self.gamma2 = None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gamma1 = None if self.gamma1 is None else self.gamma1.view(-1, 1, 1)
        y = layer_scaled(gamma1, (self.norm1, self.gnconv), self._mix, x)
        x = x + self.drop_path(y)
        y = layer_scaled(self.gamma2, (self.norm2, self.pwconv1, self.pwconv2), self._mlp,
                         x.permute(0, 2, 3, 1))
        return x + self.drop_path(y.permute(0, 3, 1, 2))

    def _mix(self, x: torch.Tensor) -> torch.Tensor:
        return self.gnconv(self.norm1(x))

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP, on a channels-last tensor."""
        return self.pwconv2(self.act(self.pwconv1(self.norm2(x))))

    def fuse(self, counts: FoldCounts) -> nn.Module:
        """For inference: the layer scales folded into ``gnconv.proj_out`` and ``pwconv2``."""
        for gamma, layer in (('gamma1', self.gnconv.proj_out), ('gamma2', self.pwconv2)):
            if getattr(self, gamma) is not None and not isinstance(layer, nn.Identity):
                scale_output(layer, getattr(self, gamma).detach())
                setattr(self, gamma, None)
                counts['scale'] += 1
        return self


#: the per-output norm of the official dense HorNet (detection, segmentation)
OFFICIAL_OUT_NORM = dict(type='LN2d', eps=1e-6)


@register_model()
class HorNet(BaseBackbone):
    """`HorNet <https://arxiv.org/abs/2207.14284>`_ backbone for detection, segmentation, pose and
    classification.

    Two output modes:

    * **dense** (default): a tuple of NCHW features, one per ``out_indices`` (strides 4, 8, 16, 32),
      each through its own channels-first LayerNorm ``norm{i}`` (``out_norm_cfg``, the official
      detection and segmentation model; ``out_norm_cfg=None`` returns the raw stage outputs). The
      norms only touch the returned features, the trunk continues on the un-normalised tensor. No
      ImageNet checkpoint holds ``norm{i}``: they start at weight 1, bias 0 (reported at INFO
      level).
    * **classification** (``with_cls_head=True``, the convention of every mmmoga family): the
      official ImageNet trunk up to the pre-logits; the stage-3 output is
      ``norm(mean_HW(stage 4))``, a ``(N, C4)`` tensor, where ``norm`` is the official final
      ``nn.LayerNorm`` (keys ``norm.*``; mmpretrain's HorNet calls this mode
      ``gap_before_final_norm``). Use it in an mmpretrain ``ImageClassifier`` with ``neck=None``
      and ``head=dict(type='LinearClsHead', in_channels=C4, ...)``: the official
      ``head.{weight,bias}`` is mmpretrain's ``head.fc.{weight,bias}``. When a backbone loads an
      official checkpoint through ``init_cfg``, ``head.*`` is dropped (and, without the head,
      also the classification-only ``norm.*``).

    Registered as ``HorNet``; in mmpretrain's scope write ``type='mmmoga.HorNet'``, because
    mmpretrain's own ``HorNet`` (other key names) owns the bare name there.

    Args:
        arch: variant name or alias (``'tiny'``/``'t'``, ``'small'``/``'s'``, ``'base'``/``'b'``,
            ``'large'``/``'l'``) or a dict with keys ``embed_dims``, ``depths`` and ``orders``
            (4 values each; gnConv widths must be divisible by ``2 ** (order - 1)``).
        mixer: spatial mixer of gnConv in stages 3 and 4: ``'dw'`` (depth-wise 7x7, the official
            ``*_7x7`` models) or ``'gf'`` (global-local filter, the ``*_gf`` models). Stages 1 and
            2 always use the depth-wise 7x7. Defaults to ``'dw'``.
        gf_sizes: stored ``(h, w)`` of the global filter in stages 3 and 4 (``mixer='gf'`` only).
            ImageNet-224 models use ((14, 8), (7, 4)), the 384 models and the official downstream
            configs ((24, 13), (12, 7)). A checkpoint with another size is resized when loaded,
            and the filter is interpolated to the actual feature size at every forward.
            Defaults to ((14, 8), (7, 4)).
        in_channels: input channels. Defaults to 3.
        out_indices: stages whose outputs are returned (with ``with_cls_head``, 3 is among
            them). Defaults to (0, 1, 2, 3).
        frozen_stages: freeze the stem and stages ``0..frozen_stages`` (their downsamplers, blocks
            and output norms); -1 freezes nothing. Defaults to -1.
        norm_eval: put BatchNorm layers in eval mode during training; HorNet has none, so this only
            matters for subclasses. Defaults to False.
        with_cp: checkpoint each block's activations (non-reentrant) to save memory.
            Defaults to False.
        drop_path_rate: stochastic depth, rising linearly over all blocks. Defaults to 0.
        layer_scale_init_value: initial ``gamma1``/``gamma2``; <= 0 removes them.
            Defaults to 1e-6.
        out_norm_cfg: the norm ``norm{i}`` of each returned feature map; None returns the raw
            stage outputs. Defaults to the official dense model's ``dict(type='LN2d',
            eps=1e-6)``.
        with_cls_head: classification mode (see above). Defaults to False.
        channels_last: compute in the channels-last memory layout (see
            :class:`~mmmoga.models.backbones.base_backbone.BaseBackbone`); None: where it
            measured faster (``measured_channels_last``), else channels-first.
        reference_ops: True: compute with the plain PyTorch ops, as the official code does (no
            CPU or GPU kernels; see :class:`~mmmoga.models.backbones.base_backbone.BaseBackbone`),
            for speed comparisons and tests; None (default) or False: the kernels as switched.
        init_cfg: ``dict(type='Pretrained', checkpoint=<url or path>)`` loads an official release.
            Without it, weights get the official init (truncated normal, std 0.02, zero bias).

    Examples:
        >>> import torch
        >>> model = HorNet(arch='tiny', mixer='gf').eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 224, 224))]
        [(1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7)]
    """
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(
            embed_dims=[64, 128, 256, 512], depths=[2, 3, 18, 2], orders=[2, 3, 4, 5])),
        **dict.fromkeys(['s', 'small'], dict(
            embed_dims=[96, 192, 384, 768], depths=[2, 3, 18, 2], orders=[2, 3, 4, 5])),
        **dict.fromkeys(['b', 'base'], dict(
            embed_dims=[128, 256, 512, 1024], depths=[2, 3, 18, 2], orders=[2, 3, 4, 5])),
        **dict.fromkeys(['l', 'large'], dict(
            embed_dims=[192, 384, 768, 1536], depths=[2, 3, 18, 2], orders=[2, 3, 4, 5])),
    }  # yapf: disable
    arch_keys = frozenset({'embed_dims', 'depths', 'orders'})
    variants = {'7x7': {}, 'gf': dict(mixer='gf')}
    named_models = {
        **{
            f'hornet_{size}_7x7': dict(arch=size)
            for size in ('t', 's', 'b')
        },
        **{
            f'hornet_{size}_gf': dict(arch=size, mixer='gf')
            for size in ('t', 's', 'b')
        },
        'hornet_l_7x7_384': dict(arch='l'),
        # the stored filters of the 384 model, as the official hornet_large_gf_img384
        'hornet_l_gf_384': dict(arch='l', mixer='gf', gf_sizes=((24, 13), (12, 7))),
    }
    classification_form = dict(with_cls_head=True, out_indices=(3, ))
    cls_head_name = 'norm'  # the classification form's final LayerNorm (its head is mmpretrain's)
    renamed_arguments = {
        'gap_before_final_norm':
        "with_cls_head=True, out_indices=(3, ) (the classification form; "
        "gap_before_final_norm is mmpretrain's name for it)",
        'out_norms':
        'out_norm_cfg=None for raw stage outputs (the default is the official '
        "dict(type='LN2d', eps=1e-6))",
    }
    uses_gpu_kernels = True
    # CPU, 224, batch 2, median of 3 rounds: channels-last 0.96x/0.99x inference and 1.05x/0.96x
    # training (7x7/GF), no gain; no GPU measurement of the layouts yet
    measured_channels_last = {}
    mixers = ('dw', 'gf')
    fresh_prefixes = ('norm0.', 'norm1.', 'norm2.', 'norm3.')

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 *,
                 mixer: str = 'dw',
                 gf_sizes: Sequence[Tuple[int, int]] = ((14, 8), (7, 4)),
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-6,
                 out_norm_cfg: Optional[dict] = OFFICIAL_OUT_NORM,
                 with_cls_head: bool = False,
                 channels_last: Optional[bool] = None,
                 reference_ops: Optional[bool] = None,
                 init_cfg: Union[dict, List[dict], None] = None,
                 **kwargs):
        super().__init__(
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            init_cfg=init_cfg,
            channels_last=channels_last,
            reference_ops=reference_ops,
            **kwargs)
        self.set_cls_head(with_cls_head)
        if mixer not in self.mixers:
            raise ValueError(f'Unknown HorNet mixer {mixer!r}; valid choices: {list(self.mixers)} '
                             f'(depth-wise 7x7, or global-local filter in stages 3-4)')
        gf_sizes = tuple(tuple(int(s) for s in size) for size in gf_sizes)
        if len(gf_sizes) != 2 or any(len(size) != 2 for size in gf_sizes):
            raise ValueError(f'gf_sizes needs two (h, w) pairs (stages 3 and 4), got {gf_sizes}')
        self.arch_settings = self.parse_arch(arch)
        self.embed_dims = list(self.arch_settings['embed_dims'])
        depths = self.arch_settings['depths']
        orders = self.arch_settings['orders']
        self.mixer = mixer
        self.gf_sizes = gf_sizes
        self.with_cp = with_cp

        dims = self.embed_dims
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(in_channels, dims[0], 4, stride=4), LayerNorm2d(dims[0]))])
        for i in range(1, self.num_stages):
            self.downsample_layers.append(
                nn.Sequential(
                    LayerNorm2d(dims[i - 1]), nn.Conv2d(dims[i - 1], dims[i], 2, stride=2)))

        dpr = self.drop_path_rates(drop_path_rate, depths)
        stage_mixers = ('dw', 'dw', mixer, mixer)
        stage_gf_sizes = ((14, 8), (14, 8)) + gf_sizes
        self.stages = nn.ModuleList([
            nn.Sequential(*[
                HorNetBlock(dims[i], orders[i], stage_mixers[i], stage_gf_sizes[i], rate,
                            layer_scale_init_value) for rate in dpr[i]
            ]) for i in range(self.num_stages)
        ])

        self.add_out_norms(out_norm_cfg)
        if with_cls_head:
            self.norm = nn.LayerNorm(dims[-1], eps=1e-6)

        self.apply(self._init_weights)
        self._freeze_stages()

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def stage_modules(self, index: int) -> List[nn.Module]:
        return [self.downsample_layers[index], self.stages[index], *self.output_modules(index)]

    def pooled_output(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.mean((-2, -1)))

    def filter_checkpoint(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Drop the classifier (and, without ``with_cls_head``, the classification-only final
        ``norm``), and
        resize every global filter whose ``(h, w)`` differs from this model's (bilinear,
        ``align_corners=True``, as the official loaders do)."""
        logger = MMLogger.get_current_instance()
        state_dict = super().filter_checkpoint(state_dict)
        if not self.with_cls_head:
            dropped = [k for k in state_dict if k.startswith('norm.')]
            if dropped:
                logger.info(f'Dropped the classification-only final norm: {dropped}')
                state_dict = {k: v for k, v in state_dict.items() if k not in dropped}
        own = dict(self.named_parameters())
        filtered = {}
        for key, value in state_dict.items():
            target = own.get(key)
            if (key.endswith('complex_weight') and target is not None and value.dim() == 4
                    and value.shape[0] == target.shape[0]
                    and value.shape[1:3] != target.shape[1:3]):
                logger.info(f'Resized {key} from {tuple(value.shape[1:3])} to '
                            f'{tuple(target.shape[1:3])}')
                value = resize_complex_weight(value.float(), target.shape[1:3]).to(value.dtype)
            filtered[key] = value
        return filtered

    def get_layer_id(self, param_name: str, num_layers: int, decay_type: str = 'layer_wise') -> int:
        """Official HorNet ids (``LearningRateDecayOptimizerConstructorHorNet``).

        layer_wise: ``downsample_layers`` 0/1/2/3 -> 0/2/3/12, ``stages.0`` -> 1, ``stages.1`` ->
        2, ``stages.2.j`` -> min(3 + j // 2, 11), ``stages.3`` -> 12 (12 is hard-coded, also when
        ``num_layers`` is not 12, as released); everything else -> ``num_layers + 1``.
        stage_wise: downsamplers 0, ``stages.i`` -> i + 1, everything else ``num_layers + 1``.
        """
        if decay_type not in ('layer_wise', 'stage_wise'):
            raise ValueError(f"decay_type must be 'layer_wise' or 'stage_wise', got {decay_type!r}")
        parts = param_name.split('.')
        if parts[0] not in ('downsample_layers', 'stages'):
            return num_layers + 1
        stage = int(parts[1])
        if decay_type == 'stage_wise':
            return 0 if parts[0] == 'downsample_layers' else stage + 1
        if parts[0] == 'downsample_layers':
            return (0, 2, 3, 12)[stage]
        if stage == 2:
            return min(3 + int(parts[2]) // 2, 11)
        return (1, 2, None, 12)[stage]

    def forward_stage(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return self.run_blocks(self.stages[index], self.downsample_layers[index](x))


# ------------------------------------------------------------ other libraries' checkpoints
# (plain functions from a state dict to a state dict, like timm's checkpoint filters)

HORNET_OFFICIAL_KEY = re.compile(
    r'^(downsample_layers\.\d+\.[01]\.(weight|bias)'
    r'|stages\.\d+\.\d+\.(gamma[12]'
    r'|(norm[12]|pwconv[12])\.(weight|bias)'
    r'|gnconv\.(proj_in|proj_out|pws\.\d+)\.(weight|bias)'
    r'|gnconv\.dwconv\.(weight|bias|complex_weight|dw\.weight|(pre|post)_norm\.(weight|bias)))'
    r'|norm\d?\.(weight|bias)'
    r'|head\.(weight|bias))$')
HORNET_LAYOUTS = ('auto', 'cls', 'dense')


def convert_hornet_mmpretrain(
        state_dict: Dict[str, torch.Tensor],
        layout: str = 'auto',
        drop_head: bool = False) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Map mmpretrain HorNet keys to the official HorNet keys.

    mmpretrain (``mmpretrain/models/backbones/hornet.py``) renames ``gnconv.pws`` to
    ``gnconv.projs`` and stores the layer scales as ``gamma{1,2}.weight``; its classifier keeps the
    final norm as ``norm3`` and the linear head as ``head.fc``. This undoes that; ``backbone.`` and
    ``module.`` prefixes are stripped, ``data_preprocessor.*`` and (in a detector or segmentor)
    every key outside ``backbone.`` are dropped.

    Args:
        state_dict: an unwrapped state dict (see :func:`mmmoga.utils.extract_state_dict`).
        layout: ``'cls'`` (``norm3`` is the final classification norm -> ``norm``, ``head.fc`` ->
            ``head``), ``'dense'`` (``norm{i}`` are the dense model's output norms) or ``'auto'``
            (``cls`` when ``norm3`` is the only output norm, as mmpretrain's
            ``gap_before_final_norm=True`` builds).
        drop_head: drop the classifier (backbone-only output).

    Returns:
        The converted state dict and the list of source keys that were dropped.

    Raises:
        ValueError: an unknown ``layout``, a backbone key with no official counterpart (listed by
            name), or two keys that map to the same official key.
    """
    if layout not in HORNET_LAYOUTS:
        raise ValueError(f'Unknown layout {layout!r}; valid choices: {list(HORNET_LAYOUTS)}')
    state_dict = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state_dict.items())
    has_backbone_prefix = any(k.startswith('backbone.') for k in state_dict)
    if layout == 'auto':
        out_norms = {
            m.group(1)
            for k in state_dict
            for m in [re.match(r'^(?:backbone\.)?norm(\d)\.', k)] if m
        }
        layout = 'cls' if out_norms == {'3'} else 'dense'

    pairs, dropped = [], []
    for key, value in state_dict.items():
        if key.startswith('head.fc.') and layout == 'cls':
            new_key = 'head.' + key[len('head.fc.'):]
        elif key.startswith('backbone.') or not has_backbone_prefix:
            new_key = key[len('backbone.'):] if has_backbone_prefix else key
            new_key = new_key.replace('.gnconv.projs.', '.gnconv.pws.')
            new_key = re.sub(r'\.(gamma[12])\.weight$', r'.\1', new_key)
            if layout == 'cls':
                new_key = re.sub(r'^norm3\.', 'norm.', new_key)
        else:
            dropped.append(key)
            continue
        if (drop_head and new_key.startswith('head.')) or new_key.startswith('data_preprocessor.'):
            dropped.append(key)
        else:
            pairs.append((key, new_key, value))
    return official_state_dict(pairs, HORNET_OFFICIAL_KEY, 'HorNet'), dropped
