"""Norm layers, and the builder the backbones use for ``norm_cfg`` dicts.

:func:`build_norm_layer` is mmcv's ``build_norm_layer`` without mmcv: the same config dicts
(``dict(type='BN', requires_grad=..., eps=..., momentum=...)``), the same classes, the same
default ``eps`` (1e-5) and the same names (``bn``, ``gn``, ``ln``, ``in`` + postfix), so modules
built with it keep their state-dict keys and compute the same values. Types it does not know are
looked up in mmengine's ``MODELS`` registry, where mmcv and other libraries register theirs once
they are imported.
"""
import inspect
from typing import Tuple, Type, Union

import torch
import torch.nn.functional as F
from mmengine.utils.dl_utils.parrots_wrapper import SyncBatchNorm
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from .scale import in_fp16_autocast

__all__ = ['LayerNorm2d', 'NORM_LAYERS', 'build_norm_layer', 'build_out_norm', 'norm_abbr']


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (the ``channels_first`` LayerNorm of ConvNeXt
    and HorNet).

    Same parameters (``weight``, ``bias``, shape ``(C, )``) and the same result, within fp32
    rounding, as the official ``(x - mean) / sqrt(var + eps)`` formula with the biased variance;
    computed by one fused ``F.layer_norm`` on a channels-last view instead of five elementwise
    passes. Under fp16 autocast it runs in fp32 and returns fp32, on every device (CUDA's autocast
    does this for ``layer_norm``, the CPU's does not): a norm in front of a branch whose gradients
    are far below fp16's range (HorNet's gnConv) would otherwise get zero gradients.

    Args:
        num_channels: number of channels ``C``.
        eps: added to the variance. Defaults to 1e-6 (HorNet/ConvNeXt).
        elementwise_affine: learn ``weight`` and ``bias``. Defaults to True.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6, elementwise_affine: bool = True):
        super().__init__(num_channels, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if in_fp16_autocast(x):
            with torch.autocast(x.device.type, enabled=False):
                return self._normalized(x.float())
        return self._normalized(x)

    def _normalized(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


#: norm types by name: the classes mmcv registers under these names
NORM_LAYERS = {
    'BN': nn.BatchNorm2d,
    'BN1d': nn.BatchNorm1d,
    'BN2d': nn.BatchNorm2d,
    'BN3d': nn.BatchNorm3d,
    'SyncBN': SyncBatchNorm,
    'GN': nn.GroupNorm,
    'LN': nn.LayerNorm,
    'IN': nn.InstanceNorm2d,
    'IN1d': nn.InstanceNorm1d,
    'IN2d': nn.InstanceNorm2d,
    'IN3d': nn.InstanceNorm3d,
}


def norm_abbr(norm_class: Type[nn.Module]) -> str:
    """The attribute-name stem of a norm class, by mmcv's rules: its ``_abbr_``, else ``in`` /
    ``bn`` / ``gn`` / ``ln`` by base class, then by class name, else ``norm_layer``."""
    if hasattr(norm_class, '_abbr_'):
        return norm_class._abbr_
    bases = ((_InstanceNorm, 'in'), (_BatchNorm, 'bn'), (nn.GroupNorm, 'gn'), (nn.LayerNorm, 'ln'))
    for base, abbr in bases:  # instance norms first: they derive from _NormBase like BN
        if issubclass(norm_class, base):
            return abbr
    name = norm_class.__name__.lower()
    for word, abbr in (('batch', 'bn'), ('group', 'gn'), ('layer', 'ln'), ('instance', 'in')):
        if word in name:
            return abbr
    return 'norm_layer'


def _norm_class(norm_type: Union[str, type]) -> type:
    if inspect.isclass(norm_type):
        return norm_type
    if norm_type in NORM_LAYERS:
        return NORM_LAYERS[norm_type]
    from mmengine.registry import MODELS
    with MODELS.switch_scope_and_registry(None) as registry:
        found = registry.get(norm_type)
    if found is None:
        raise KeyError(f'Unknown norm type {norm_type!r} in norm_cfg: use one of '
                       f'{sorted(NORM_LAYERS)}, a norm class, or a type registered in '
                       f"mmengine's MODELS registry (import the library that registers it first)")
    return found


def build_norm_layer(cfg: dict,
                     num_features: int,
                     postfix: Union[int, str] = '') -> Tuple[str, nn.Module]:
    """Build a norm layer from a config dict; returns ``(name, layer)`` as mmcv's builder does.

    Args:
        cfg: ``type`` (a name of :data:`NORM_LAYERS`, a registered name or a class), optional
            ``requires_grad`` (default True) and the layer's own arguments (``eps`` defaults to
            1e-5; ``GN`` needs ``num_groups``).
        num_features: channels to normalise.
        postfix: appended to the name (``bn`` + ``1`` -> ``bn1``).
    """
    if not isinstance(cfg, dict):
        raise TypeError(f'norm_cfg must be a dict such as dict(type=\'BN\'), got {cfg!r}')
    if 'type' not in cfg:
        raise KeyError(f'norm_cfg needs a "type" (e.g. dict(type=\'BN\')), got {cfg}')
    args = dict(cfg)
    norm_type = args.pop('type')
    norm_class = _norm_class(norm_type)
    requires_grad = args.pop('requires_grad', True)
    args.setdefault('eps', 1e-5)
    if norm_class is nn.GroupNorm:
        if 'num_groups' not in args:
            raise KeyError(f'norm_cfg of type GN needs num_groups, got {cfg}')
        layer = norm_class(num_channels=num_features, **args)
    else:
        layer = norm_class(num_features, **args)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return norm_abbr(norm_class) + str(postfix), layer


def build_out_norm(cfg: dict, channels: int) -> nn.Module:
    """Norm of a stage output: ``dict(type='LN2d', eps=1e-6)`` is a channels-first LayerNorm, any
    other type goes through :func:`build_norm_layer` (``BN``, ``SyncBN``, ``GN``...)."""
    cfg = dict(cfg)
    if cfg.get('type') in ('LN2d', 'LayerNorm2d'):
        return LayerNorm2d(channels, eps=cfg.get('eps', 1e-6))
    return build_norm_layer(cfg, channels)[1]
