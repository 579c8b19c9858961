import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import nn

from .scale import in_fp16_autocast

__all__ = ['LayerNorm2d']


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


def build_out_norm(cfg: dict, channels: int) -> nn.Module:
    """Norm of a stage output: ``dict(type='LN2d', eps=1e-6)`` is a channels-first LayerNorm, any
    other type goes through mmcv's ``build_norm_layer`` (``BN``, ``SyncBN``, ``GN``...)."""
    cfg = dict(cfg)
    if cfg.get('type') in ('LN2d', 'LayerNorm2d'):
        return LayerNorm2d(channels, eps=cfg.get('eps', 1e-6))
    return build_norm_layer(cfg, channels)[1]
