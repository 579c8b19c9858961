"""Recursive gated convolution (gnConv) and its global-local filter, shared by the HorNet backbone
and the HorFPN neck.

Paper: `HorNet: Efficient High-Order Spatial Interactions with Recursive Gated Convolutions
<https://arxiv.org/abs/2207.14284>`_ (NeurIPS 2022).
Official code: https://github.com/raoyongming/HorNet

Parameter names follow the official ``gnconv`` / ``GlobalLocalFilter`` (``proj_in``, ``dwconv``,
``pws.{i}``, ``proj_out``; ``dw``, ``complex_weight``, ``pre_norm``, ``post_norm``), so official
weights load without renaming.
"""
from contextlib import nullcontext
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .activation import build_activation_layer
from .dft import global_filter_dft
from .folding import FoldCounts, bn_affine, foldable_bn, scale_output
from .gpu_ops import depthwise_conv2d
from .norm import LayerNorm2d, build_norm_layer
from .scale import in_fp16_autocast

__all__ = [
    'GlobalLocalFilter', 'GnConv', 'GnConvModule', 'parse_gnconv_cfg', 'resize_complex_weight'
]


def resize_complex_weight(weight: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize a global filter ``(C, h, w, 2)`` to ``(C, *size, 2)``.

    ``align_corners=True``; the real and imaginary planes are resized separately. Used both on every
    forward where the filter and the rfft grid differ, and when a checkpoint's filter is loaded into
    a model configured with another ``(h, w)``.
    """
    size = tuple(int(s) for s in size)
    if tuple(weight.shape[1:3]) == size:
        return weight
    resized = F.interpolate(
        weight.permute(3, 0, 1, 2), size=size, mode='bilinear', align_corners=True)
    return resized.permute(1, 2, 3, 0)


class GlobalLocalFilter(nn.Module):
    """Global-local filter (GF): half of the channels through a depth-wise 3x3 conv, the other half
    through a learnable global filter in the 2D Fourier domain, interleaved channel-wise.

    ``pre_norm`` -> split in two halves -> local: ``dw`` (no bias); global: fp32
    ``rfft2(norm='ortho')`` times ``complex_weight`` (bilinearly resized to the rfft grid
    ``(H, W // 2 + 1)`` when it differs) -> ``irfft2`` back to ``(H, W)`` -> channels interleaved as
    ``(local_0, global_0, local_1, global_1, ...)`` -> ``post_norm``.

    The Fourier part always runs in fp32, with autocast disabled; its result is cast back to the
    dtype of its input (under autocast, the channel interleave then promotes both halves to the
    wider dtype, as the official ``torch.cat`` does).

    ``fft_as_matmul = True`` (set by the ONNX export, off by default) computes the Fourier part with
    real DFT matrix products (:func:`~mmmoga.models.layers.dft.global_filter_dft`) instead of
    ``torch.fft``, which exporters cannot translate; the result is the same up to fp32 rounding.

    Args:
        channels: input and output channels (even).
        h: height of the stored global filter (the rfft grid height, i.e. the feature height it
            was trained at). Defaults to 14.
        w: width of the stored global filter (``W // 2 + 1`` of that feature). Defaults to 8.
        kernel_size: kernel of the local depth-wise conv. Defaults to 3.
    """

    fft_as_matmul = False

    def __init__(self, channels: int, h: int = 14, w: int = 8, kernel_size: int = 3):
        super().__init__()
        if channels % 2:
            raise ValueError(f'GlobalLocalFilter needs an even number of channels, got {channels}')
        half = channels // 2
        self.dw = nn.Conv2d(
            half, half, kernel_size, padding=(kernel_size - 1) // 2, bias=False, groups=half)
        self.complex_weight = nn.Parameter(torch.empty(half, h, w, 2, dtype=torch.float32))
        nn.init.trunc_normal_(self.complex_weight, std=.02)
        self.pre_norm = LayerNorm2d(channels, eps=1e-6)
        self.post_norm = LayerNorm2d(channels, eps=1e-6)

    def _global_filter(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        device_type = x.device.type
        no_autocast = (
            torch.autocast(device_type, enabled=False)
            if torch.amp.is_autocast_available(device_type) else nullcontext())
        with no_autocast:
            if self.fft_as_matmul:
                return global_filter_dft(x.float(), self.complex_weight.float()).to(x.dtype)
            freq = torch.fft.rfft2(x.float(), dim=(2, 3), norm='ortho')
            weight = resize_complex_weight(self.complex_weight.float(), freq.shape[2:4])
            freq = freq * torch.view_as_complex(weight.contiguous())
            out = torch.fft.irfft2(freq, s=(height, width), dim=(2, 3), norm='ortho')
        return out.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_norm(x)
        local, glob = torch.chunk(x, 2, dim=1)
        local = self.dw(local)
        glob = self._global_filter(glob)
        batch, half, height, width = local.shape
        x = torch.stack((local, glob), dim=2).reshape(batch, 2 * half, height, width)
        return self.post_norm(x)


class GnConv(nn.Module):
    """Recursive gated convolution of order ``n`` (gnConv).

    With ``dims = [C / 2^(n-1), ..., C / 2, C]`` (``C = channels``): ``proj_in`` (1x1) maps the
    input to ``2C`` channels, split into ``p`` (``dims[0]``) and ``q`` (``sum(dims)``); ``q`` goes
    through the spatial mixer (``dwconv``: a depth-wise ``kernel_size`` conv with bias, or a
    :class:`GlobalLocalFilter`) and is multiplied by ``scale`` and split by ``dims`` into
    ``q_0..q_{n-1}``; then ``x = p * q_0`` and ``x = pws[i](x) * q_{i+1}`` for each order;
    ``proj_out`` (1x1) maps ``C`` to ``out_channels``.

    The HorNet backbone uses ``in_channels == channels``, ``scale=1/3`` and ``proj_out=True``; the
    HorFPN / GNUPerHead replacement module uses ``scale=1.0`` and ``in_channels != channels``.

    Under fp16 autocast it runs in fp32 (autocast off; the output is fp32): each order multiplies
    by a gate of about 1e-2 at the official init (measured: the stage-4 products of HorNet-T reach
    1e-11, the output 1e-12), below fp16's smallest subnormal (6e-8), so in fp16 the forward
    values of orders 3 to 5, and the gradients of every gnConv parameter, flush to zero. bf16 has
    fp32's exponent range and keeps the autocast dtype.

    Args:
        in_channels: input channels.
        channels: gnConv width ``C``; divisible by ``2 ** (order - 1)``.
        order: interaction order ``n`` (>= 1).
        mixer: ``'dw'`` (depth-wise ``kernel_size`` conv) or ``'gf'`` (global-local filter).
            Defaults to ``'dw'``.
        kernel_size: kernel of the ``'dw'`` mixer. Defaults to 7.
        gf_size: stored ``(h, w)`` of the ``'gf'`` filter. Defaults to (14, 8).
        scale: factor on the mixer output. Defaults to 1/3 (the HorNet backbone).
        proj_out: add the output 1x1 conv; otherwise ``proj_out`` is an identity and the output
            has ``channels`` channels. Defaults to True.
        out_channels: output channels of ``proj_out``. Defaults to ``channels``.
        gf_kernel_size: kernel of the local depth-wise conv inside the ``'gf'`` mixer.
            Defaults to 3.
    """
    mixers = ('dw', 'gf')

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 order: int,
                 mixer: str = 'dw',
                 kernel_size: int = 7,
                 gf_size: Tuple[int, int] = (14, 8),
                 scale: float = 1 / 3,
                 proj_out: bool = True,
                 out_channels: Optional[int] = None,
                 gf_kernel_size: int = 3):
        super().__init__()
        if mixer not in self.mixers:
            raise ValueError(f'Unknown gnConv mixer {mixer!r}; valid choices: {list(self.mixers)}')
        if order < 1 or channels % 2**(order - 1):
            raise ValueError(f'gnConv channels ({channels}) must be divisible by '
                             f'2 ** (order - 1) with order >= 1 (order {order})')
        out_channels = channels if out_channels is None else out_channels
        if not proj_out and out_channels != channels:
            raise ValueError(f'out_channels ({out_channels}) != channels ({channels}) needs '
                             f'proj_out=True')
        self.order = order
        self.scale = scale
        self.dims = [channels // 2**i for i in range(order)][::-1]
        mixed = sum(self.dims)
        self.proj_in = nn.Conv2d(in_channels, 2 * channels, 1)
        if mixer == 'dw':
            self.dwconv = nn.Conv2d(
                mixed, mixed, kernel_size, padding=(kernel_size - 1) // 2, groups=mixed)
        else:
            self.dwconv = GlobalLocalFilter(mixed, *gf_size, kernel_size=gf_kernel_size)
        self.proj_out = nn.Conv2d(channels, out_channels, 1) if proj_out else nn.Identity()
        self.pws = nn.ModuleList(
            [nn.Conv2d(self.dims[i], self.dims[i + 1], 1) for i in range(order - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if in_fp16_autocast(x):
            with torch.autocast(x.device.type, enabled=False):
                return self._gated(x.float())
        return self._gated(x)

    def _gated(self, x: torch.Tensor) -> torch.Tensor:
        p, q = torch.split(self.proj_in(x), (self.dims[0], sum(self.dims)), dim=1)
        q = depthwise_conv2d(q, self.dwconv) if isinstance(self.dwconv,
                                                           nn.Conv2d) else self.dwconv(q)
        if self.scale != 1:  # 1 in HorFPN, and after fuse_for_inference folded it into the mixer
            q = q * self.scale
        gates = torch.split(q, self.dims, dim=1)
        x = p * gates[0]
        for pw, gate in zip(self.pws, gates[1:]):
            x = pw(x) * gate
        return self.proj_out(x)

    def fuse(self, counts: FoldCounts) -> nn.Module:
        """For inference: ``scale`` folded into the mixer (the 'gf' mixer ends in an affine
        LayerNorm)."""
        if self.scale != 1:
            scale = torch.full((sum(self.dims), ), float(self.scale), dtype=torch.float64)
            mixer = self.dwconv
            scale_output(mixer.post_norm if isinstance(mixer, GlobalLocalFilter) else mixer, scale)
            self.scale = 1.0
            counts['scale'] += 1
        return self


# activations without an ``inplace`` argument (mmcv ConvModule's list)
_NO_INPLACE = ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU')


def parse_gnconv_cfg(cfg: Optional[dict]) -> dict:
    """Normalise a gnConv-module config.

    Accepts :class:`GnConvModule` keyword arguments, or the official ``GNConvModule`` spelling
    (``type='gnconv'|'gngf'``, ``h``, ``w``), so official configs can be ported by copying their
    ``gn_conv_cfg`` / ``conv_cfg``. ``w`` defaults to ``h // 2 + 1`` when only ``h`` is given.
    """
    cfg = dict(cfg or {})
    kind = cfg.pop('type', None)
    if kind is not None:
        mixers = {'gnconv': 'dw', 'gngf': 'gf'}
        if kind not in mixers:
            raise ValueError(f"gnConv type must be one of {list(mixers)} (or use mixer='dw'|'gf'), "
                             f'got {kind!r}')
        cfg.setdefault('mixer', mixers[kind])
    if 'h' in cfg or 'w' in cfg:
        h = cfg.pop('h', 32)
        cfg['gf_size'] = (h, cfg.pop('w', h // 2 + 1))
    return cfg


class GnConvModule(GnConv):
    """The gnConv replacement for a 3x3 ``ConvModule`` (official ``GNConvModule``).

    :class:`~mmmoga.models.layers.gnconv.GnConv` from ``in_channels`` to ``out_channels`` with
    width ``out_channels * dim_ratio`` and no 1/3 scale, optionally followed by a norm (named as
    ``build_norm_layer`` names it, e.g. ``bn``) and an activation (``activate``), like a
    ``ConvModule``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        order: gnConv order. Defaults to 2.
        mixer: ``'dw'`` (depth-wise ``kernel_size`` conv) or ``'gf'`` (global-local filter).
            Defaults to ``'dw'``.
        kernel_size: kernel of the ``'dw'`` mixer. Defaults to 7.
        gf_size: stored ``(h, w)`` of the ``'gf'`` filter (interpolated to every input size).
            Defaults to (32, 17), the official HorFPN setting.
        proj_out: add the 1x1 output projection. Defaults to True.
        dim_ratio: gnConv width as a multiple of ``out_channels``. Defaults to 1.
        gf_kernel_size: kernel of the local depth-wise conv of the ``'gf'`` mixer. Defaults to 3.
        norm_cfg: norm after the gnConv, or None. Defaults to None.
        act_cfg: activation after the norm, or None. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 order: int = 2,
                 mixer: str = 'dw',
                 kernel_size: int = 7,
                 gf_size: Tuple[int, int] = (32, 17),
                 proj_out: bool = True,
                 dim_ratio: int = 1,
                 gf_kernel_size: int = 3,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None):
        width = out_channels * dim_ratio
        super().__init__(
            in_channels,
            width,
            order,
            mixer=mixer,
            kernel_size=kernel_size,
            gf_size=tuple(gf_size),
            scale=1.0,
            proj_out=proj_out,
            out_channels=out_channels if proj_out else None,
            gf_kernel_size=gf_kernel_size)
        if not proj_out and width != out_channels:
            raise ValueError(f'dim_ratio {dim_ratio} != 1 needs proj_out=True')
        self.norm_name = None
        if norm_cfg is not None:
            self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
            self.add_module(self.norm_name, norm)
        self.activate = None
        if act_cfg is not None:
            act_cfg = dict(act_cfg)
            if act_cfg['type'] not in _NO_INPLACE:
                act_cfg.setdefault('inplace', False)
            self.activate = build_activation_layer(act_cfg)

    @property
    def norm(self) -> Optional[nn.Module]:
        return getattr(self, self.norm_name) if self.norm_name else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if self.norm_name:
            x = self.norm(x)
        if self.activate is not None:
            x = self.activate(x)
        return x

    def fuse(self, counts: FoldCounts) -> nn.Module:
        """For inference: HorFPN's BN after the gnConv folded into ``proj_out``."""
        super().fuse(counts)
        if self.norm_name and foldable_bn(self.norm) and isinstance(self.proj_out, nn.Conv2d):
            scale_output(self.proj_out, *bn_affine(self.norm))
            delattr(self, self.norm_name)
            self.norm_name = None
            counts['batchnorm'] += 1
        return self
