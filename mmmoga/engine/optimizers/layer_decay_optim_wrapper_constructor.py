"""One layer-wise learning-rate decay constructor for every backbone of the package.

The official MogaNet and HorNet repositories each ship their own copy of mmdet 2.x's ConvNeXt
constructor with a different layer-id table, and mmdet/mmseg 3.x only know ConvNeXt. Here the
table lives with the backbone (``get_layer_id``, see
:class:`mmmoga.models.backbones.BaseBackbone`); this constructor only applies it:

* a parameter of ``model.backbone`` gets the id the backbone returns for its name relative to the
  backbone; every other parameter (neck, heads, ...) gets ``num_layers + 1``;
* its LR is ``lr * decay_rate ** (num_layers + 1 - id)``;
* it gets no weight decay when it is 1-D after squeezing (norms, layer scales, MogaNet's
  ``sigma`` and ``decompose.weight``) or its name ends in ``.bias`` -- the official rule.

mmpretrain's ``ConvNeXt`` (used by the baseline configs) has no ``get_layer_id``; for it the rule of
mmdet's ``LearningRateDecayOptimizerConstructor`` is reproduced (stage 3 blocks get
``3 + block // 3``, not capped).

The registered name is ``BackboneLayerDecayOptimWrapperConstructor`` (also
``mmmoga.BackboneLayerDecayOptimWrapperConstructor``). It is deliberately not
``LearningRateDecayOptimizerConstructor`` (mmdet, mmseg), ``LayerDecayOptimizerConstructor``
(mmseg), ``LearningRateDecayOptimWrapperConstructor`` (mmpretrain) or
``LayerDecayOptimWrapperConstructor`` (mmpose): a task library's own entry would shadow ours under
its ``default_scope``.

Example::

    optim_wrapper = dict(
        constructor='BackboneLayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
        paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise', num_layers=6))
"""
from typing import Callable, Dict, List, Optional

from mmengine.dist import get_dist_info
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mmmoga.models.backbones.base_backbone import convnext_layer_id
from mmmoga.registry import register_optim_wrapper_constructor

DECAY_TYPES = ('layer_wise', 'stage_wise')
SUPPORTED_BACKBONES = ('mmmoga backbones that implement get_layer_id (MogaNet, HorNet, ...)',
                       "mmpretrain's ConvNeXt (mmdet's ConvNeXt rule)")


def convnext_param_layer_id(param_name: str,
                            num_layers: int,
                            decay_type: str = 'layer_wise') -> int:
    """mmdet/mmseg's ConvNeXt layer id of a parameter of mmpretrain's ConvNeXt (name relative to the
    backbone): ``downsample_layers.{s}`` / ``stages.{s}.{b}`` through
    :func:`~mmmoga.models.backbones.base_backbone.convnext_layer_id` (uncapped, as mmdet); token
    embeddings (``cls_token``, ``mask_token``, ``pos_embed``) -> 0; anything else
    ``num_layers + 1``."""
    if param_name in ('cls_token', 'mask_token', 'pos_embed'):
        return 0
    parts = param_name.split('.')
    if parts[0] not in ('downsample_layers', 'stages') or len(parts) < 3:
        return num_layers + 1
    block = int(parts[2]) if parts[0] == 'stages' else None
    return convnext_layer_id(int(parts[1]), block, num_layers, decay_type)


def _is_convnext(backbone: nn.Module) -> bool:
    # the same dispatch as mmdet's constructor (class name), plus the key layout the rule reads
    return ('ConvNeXt' in type(backbone).__name__ and hasattr(backbone, 'downsample_layers')
            and hasattr(backbone, 'stages'))


def layer_id_getter(backbone: nn.Module) -> Callable[[str, int, str], int]:
    """``f(name_relative_to_backbone, num_layers, decay_type) -> id`` for a backbone, or raise."""
    if callable(getattr(backbone, 'get_layer_id', None)):
        return backbone.get_layer_id
    if _is_convnext(backbone):
        return convnext_param_layer_id
    raise NotImplementedError(
        f'Layer-wise LR decay has no layer ids for the backbone {type(backbone).__module__}.'
        f'{type(backbone).__name__}. Supported: ' + '; '.join(SUPPORTED_BACKBONES) + '.')


@register_optim_wrapper_constructor()
class BackboneLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise (or stage-wise) LR decay over ``model.backbone`` with the backbone's own ids.

    ``paramwise_cfg`` keys:

    - ``decay_rate`` (float, required): the factor per layer id, usually < 1.
    - ``num_layers`` (int, required): ids run from 0 (stem) to ``num_layers + 1`` (everything
      outside the backbone, scale 1). Same meaning as in the official configs and in mmdet's
      ConvNeXt constructor.
    - ``decay_type`` (``'layer_wise'`` | ``'stage_wise'``, default ``'layer_wise'``).
    - ``custom_keys`` (dict, optional): ``{substring: dict(lr_mult=..., decay_mult=...)}`` on the
      full parameter name (longest key wins, as in mmengine). ``lr_mult`` multiplies the layer
      scale; ``decay_mult`` replaces the automatic no-decay rule: weight decay
      ``= weight_decay * decay_mult``. Not needed for the official recipes.

    Other base-class options (``bias_lr_mult``, ``norm_decay_mult``, ...) are rejected rather than
    silently ignored. Frozen parameters (``requires_grad=False``) are left out of the optimizer.
    Each param group carries ``group_name``, ``layer_id`` and ``lr_scale`` next to ``lr`` and
    ``weight_decay``; the groups are logged once, on rank 0.
    """
    allowed_keys = ('decay_rate', 'num_layers', 'decay_type', 'custom_keys')

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        cfg = self.paramwise_cfg
        unknown = sorted(set(cfg) - set(self.allowed_keys))
        if unknown:
            raise ValueError(f'{type(self).__name__} does not support paramwise_cfg keys '
                             f'{unknown}; it accepts {list(self.allowed_keys)}.')
        missing = [k for k in ('decay_rate', 'num_layers') if k not in cfg]
        if missing:
            raise ValueError(f'{type(self).__name__} needs paramwise_cfg {missing} '
                             "(e.g. dict(decay_rate=0.9, decay_type='layer_wise', num_layers=12)).")
        self.decay_rate = float(cfg['decay_rate'])
        if self.decay_rate <= 0:
            raise ValueError(f'decay_rate must be > 0, got {cfg["decay_rate"]}')
        self.num_layers = cfg['num_layers']
        if not isinstance(self.num_layers, int) or self.num_layers < 1:
            raise ValueError(f'num_layers must be a positive int, got {self.num_layers!r}')
        self.decay_type = cfg.get('decay_type', 'layer_wise')
        if self.decay_type not in DECAY_TYPES:
            raise ValueError(f'decay_type must be one of {DECAY_TYPES}, got {self.decay_type!r}')
        if self.base_lr is None:
            raise ValueError(f'{type(self).__name__} needs optimizer.lr to scale it per layer.')
        custom_keys = cfg.get('custom_keys', {})
        for key, key_cfg in custom_keys.items():
            extra = set(key_cfg) - {'lr_mult', 'decay_mult'}
            if extra:
                raise ValueError(f'custom_keys[{key!r}] may only set lr_mult/decay_mult, '
                                 f'got {sorted(key_cfg)}')
        # longest key first, alphabetical among equals (mmengine's order)
        self.custom_keys = sorted(sorted(custom_keys), key=len, reverse=True)

    def lr_scale(self, layer_id: int) -> float:
        return self.decay_rate**(self.num_layers + 1 - layer_id)

    def layer_ids(self, model: nn.Module) -> Dict[str, int]:
        """The layer id of every named parameter of ``model`` (frozen ones included)."""
        if is_model_wrapper(model):
            model = model.module
        backbone = getattr(model, 'backbone', None)
        if isinstance(backbone, nn.Module):
            prefix = 'backbone.'
        elif callable(getattr(model, 'get_layer_id', None)):
            backbone, prefix = model, ''  # a bare backbone
        else:
            raise NotImplementedError(
                f'{type(self).__name__} needs a model with a `backbone` submodule; '
                f'{type(model).__name__} has none.')
        get_id = layer_id_getter(backbone)
        ids = {}
        for name, _ in model.named_parameters():
            if prefix and not name.startswith(prefix):
                ids[name] = self.num_layers + 1
                continue
            layer_id = get_id(name[len(prefix):], self.num_layers, self.decay_type)
            if not isinstance(layer_id, int) or layer_id < 0:
                raise ValueError(f'{type(backbone).__name__}.get_layer_id returned {layer_id!r} '
                                 f'for {name}; ids must be ints >= 0.')
            ids[name] = layer_id
        return ids

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        """Append one param group per (layer id, decay or not, custom key) to ``params``."""
        if is_model_wrapper(module):
            module = module.module
        ids = self.layer_ids(module)
        custom_cfgs = self.paramwise_cfg.get('custom_keys', {})
        groups: Dict[str, dict] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            layer_id = ids[name]
            scale = self.lr_scale(layer_id)
            key = next((k for k in self.custom_keys if k in name), None)
            decay = not (param.squeeze().ndim == 1 or name.endswith('.bias'))
            weight_decay = self.base_wd if decay else 0.
            if key is not None:
                scale *= custom_cfgs[key].get('lr_mult', 1.)
                if 'decay_mult' in custom_cfgs[key]:
                    weight_decay = (self.base_wd or 0.) * custom_cfgs[key]['decay_mult']
                    decay = weight_decay != 0
            group_name = f'layer_{layer_id}_{"decay" if decay else "no_decay"}'
            if key is not None:
                group_name += f'_{key}'
            if group_name not in groups:
                groups[group_name] = dict(
                    params=[],
                    group_name=group_name,
                    layer_id=layer_id,
                    lr_scale=scale,
                    lr=self.base_lr * scale)
                if weight_decay is not None:
                    groups[group_name]['weight_decay'] = weight_decay
            groups[group_name]['params'].append(param)
        ordered = sorted(groups.values(), key=lambda g: (g['layer_id'], g['group_name']))
        params.extend(ordered)
        self._log_groups(ordered)

    def _log_groups(self, groups: List[dict]) -> None:
        rank, _ = get_dist_info()
        if rank != 0:
            return
        lines = [
            f'{type(self).__name__}: {self.decay_type} decay, rate {self.decay_rate}, '
            f'num_layers {self.num_layers}, base lr {self.base_lr:g}; {len(groups)} groups:'
        ]
        for group in groups:
            numel = sum(p.numel() for p in group['params'])
            lines.append(f'  {group["group_name"]:<32} lr_scale={group["lr_scale"]:.4g} '
                         f'weight_decay={group.get("weight_decay", "default")} '
                         f'tensors={len(group["params"])} params={numel}')
        print_log('\n'.join(lines), logger='current')
