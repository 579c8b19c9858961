"""Stochastic depth (drop path), the ``DropPath`` of timm and mmcv without either."""
import torch
from torch import nn

__all__ = ['DropPath', 'drop_path']


def drop_path(x: torch.Tensor, drop_prob: float = 0., training: bool = False) -> torch.Tensor:
    """Zero whole samples of a residual branch with probability ``drop_prob`` and scale the kept
    ones by ``1 / (1 - drop_prob)``; the identity when not training or ``drop_prob == 0``.

    One uniform draw per sample, ``floor(keep_prob + U[0, 1))``, in ``x``'s dtype and device: the
    same random stream, and so the same masks under the same seed, as mmcv's and timm's.
    """
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0], ) + (1, ) * (x.ndim - 1)
    mask = (keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)).floor()
    return x.div(keep_prob) * mask


class DropPath(nn.Module):
    """Drop paths (stochastic depth) per sample in the main path of residual blocks; see
    :func:`drop_path`. No parameters or buffers, so it adds no state-dict keys.

    Args:
        drop_prob: probability of zeroing a sample's branch. Defaults to 0.1 (mmcv's default).
    """

    def __init__(self, drop_prob: float = 0.1):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
