"""HorNet's global filter written with real matrix products, for exporters without FFT support.

``torch.fft.rfft2`` / ``irfft2`` have no ONNX equivalent; :func:`global_filter_dft` computes the
same ``irfft2(rfft2(x, norm='ortho') * weight, s=(H, W), norm='ortho')`` as products with cos/sin
DFT matrices built in the graph from the input's size, so one exported model serves every height
and width. It is exact up to fp32 rounding (about 1e-6 relative at the feature sizes of HorNet) and
costs ``O(HW(H + W))`` instead of ``O(HW log HW)`` per channel: an export path, selected by
``GlobalLocalFilter.fft_as_matmul`` (see :func:`mmmoga.deployment.onnx_export.export_onnx`), not
the default.
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ['global_filter_dft']


def _dft_basis(rows: int, cols: int, like: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` of ``2 pi j k / rows`` for ``j < rows``, ``k < cols``; the product
    ``j k`` is reduced modulo ``rows`` in integers first, so the angle stays exact."""
    j = torch.arange(rows, device=like.device)
    k = torch.arange(cols, device=like.device)
    phase = torch.remainder(j[:, None] * k[None], rows).to(like.dtype) * (2 * math.pi) / rows
    return torch.cos(phase), torch.sin(phase)


def global_filter_dft(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The global filter of a real ``(N, C, H, W)`` tensor with a ``(C, h, w, 2)`` filter.

    The filter is resized bilinearly (``align_corners=True``, an identity when the sizes already
    match) to the rfft grid ``(H, W // 2 + 1)``, as :class:`~mmmoga.models.layers.GlobalLocalFilter`
    does.
    """
    height, width = x.shape[-2:]
    half = width // 2 + 1
    weight = F.interpolate(
        weight.permute(3, 0, 1, 2), size=(height, half), mode='bilinear', align_corners=True)
    w_re, w_im = weight[0], weight[1]
    cos_w, sin_w = _dft_basis(width, half, x)  # (W, W//2+1)
    cos_h, sin_h = _dft_basis(height, height, x)  # (H, H), symmetric
    # rfft along W: a = x e^{-i theta}
    a_re, a_im = x @ cos_w, -(x @ sin_w)
    # fft along H: f = e^{-i theta} a
    f_re = cos_h @ a_re + sin_h @ a_im
    f_im = cos_h @ a_im - sin_h @ a_re
    # the filter
    g_re = f_re * w_re - f_im * w_im
    g_im = f_re * w_im + f_im * w_re
    # inverse fft along H: b = e^{+i theta} g
    b_re = cos_h @ g_re - sin_h @ g_im
    b_im = cos_h @ g_im + sin_h @ g_re
    # inverse rfft along W (Hermitian): the columns 0 < k < W/2 count twice; the imaginary parts of
    # column 0 and, for even W, column W/2 drop out (their sines are 0)
    k = torch.arange(half, device=x.device)
    count = 2 - (k == 0).to(x.dtype) - (2 * k == width).to(x.dtype)
    out = b_re @ (count[:, None] * cos_w.transpose(0, 1)) - b_im @ (
        count[:, None] * sin_w.transpose(0, 1))
    return out / (height * width)  # the two 'ortho' normalisations
