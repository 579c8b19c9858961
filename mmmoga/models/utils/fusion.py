"""Inference fusion: fold BatchNorms and per-channel scales into their neighbouring convolutions.

Each foldable module says how it folds, in a ``fuse(counts)`` method next to its forward (with the
arithmetic of :mod:`mmmoga.models.layers.folding`); :func:`fuse_for_inference` walks the model and
calls them, and folds ``nn.Sequential`` conv/BN pairs and mmcv ``ConvModule``s itself.

:func:`fuse_for_inference` rewrites a model (a backbone, or a whole detector / segmentor holding
one) in place for evaluation. It only folds what is exact in eval mode, so outputs stay equal up to
fp32 rounding (relative error ~1e-6):

* a BatchNorm after a conv (``conv -> BN``), or before a conv without padding (``BN -> conv``:
  with zero padding the padded border would see the BN's shift, so such a pair is left alone);
* a per-channel scale after a conv or linear layer (layer scales ``gamma`` / ``layer_scale_*``,
  gnConv's ``1/3``);
* whole blocks, where the family's ``fuse`` returns a fused block class of its own (MogaNet's
  :class:`~mmmoga.models.backbones.moganet.FusedMogaBlock` says what it folds);
* mmcv ``ConvModule`` (conv -> norm) in necks and heads, and the BN after HorFPN's gnConv
  modules.

What stays: LayerNorms (data-dependent), and a BN whose output is both returned and fed on, or
that feeds a padded conv (each family's docstrings name theirs). The fused model is for
inference only: its BatchNorms are gone (``model.train()`` would not bring batch statistics back)
and the module names of fused blocks change, so save the unfused checkpoint.
"""
import functools
from typing import Dict, Optional

import torch
from mmengine.logging import MMLogger
from torch import nn

from ..layers.folding import FoldCounts, bn_affine, fold_sequential, foldable_bn, scale_output

__all__ = ['fuse_for_inference']


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


def _fuse(module: nn.Module, counts: FoldCounts) -> nn.Module:
    """Fuse ``module``: its own ``fuse`` first (a replacement is already fused), then its children;
    returns its replacement (or itself)."""
    if callable(getattr(module, 'fuse', None)):
        replacement = module.fuse(counts)
        if replacement is not module:
            return replacement
    for name, child in list(module._modules.items()):
        if child is not None:
            module._modules[name] = _fuse(child, counts)
    if isinstance(module, nn.Sequential):
        fold_sequential(module, counts)
    elif (_is_conv_module(module) and module.with_norm and module.order[:2] == ('conv', 'norm')
          and foldable_bn(module.norm) and isinstance(module.conv, nn.Conv2d)):
        scale_output(module.conv, *bn_affine(module.norm))
        setattr(module, module.norm_name, nn.Identity())
        counts['batchnorm'] += 1
    return module


def fuse_for_inference(model: nn.Module) -> Dict[str, int]:
    """Fold every BatchNorm and per-channel scale of ``model`` that can be folded exactly into its
    neighbouring convolution, in place, for inference.

    Works on any module whose foldable parts define ``fuse`` (the blocks of MogaNet, HorNet,
    Conv2Former and InceptionNeXt, the HorFPN neck's gnConv modules), and on whole OpenMMLab
    models holding them (mmcv ``ConvModule`` conv -> BN pairs of necks
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
    counts = dict(batchnorm=0, scale=0, block=0)
    with torch.no_grad():
        fused = _fuse(model, counts)
    if fused is not model:
        raise TypeError(f'fuse_for_inference works in place on a model that holds blocks, not on '
                        f'a single {type(model).__name__}; wrap it in an nn.Sequential')
    MMLogger.get_current_instance().info(
        f'fuse_for_inference: folded {counts["batchnorm"]} BatchNorms and '
        f'{counts["scale"]} scales ({counts["block"]} fused blocks)')
    return counts
