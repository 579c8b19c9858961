"""HorFPN: mmdet's FPN with order-2 gnConv output convs (HorNet paper, Table 3).

Paper: `HorNet: Efficient High-Order Spatial Interactions with Recursive Gated Convolutions
<https://arxiv.org/abs/2207.14284>`_ (NeurIPS 2022). Official code (mmdet 2.x ``GNFPN``):
https://github.com/raoyongming/HorNet/blob/master/object_detection/necks/gn_fpn.py

Key names match the official ``GNFPN``/``GNConvModule`` (``fpn_convs.{i}.proj_in`` / ``.dwconv`` /
``.pws.0`` / ``.proj_out``), so official HorFPN checkpoints load as they are.
"""
from typing import List, Optional

from mmdet.models.necks import FPN
from torch import nn

from mmmoga.models.layers.gnconv import GnConvModule, parse_gnconv_cfg
from mmmoga.registry import register_model

__all__ = ['HorFPN']


@register_model()
class HorFPN(FPN):
    """mmdet's :class:`~mmdet.models.necks.FPN` whose 3x3 output convs are gnConv modules.

    * Each backbone level's ``fpn_convs[i]`` is a :class:`GnConvModule` (order 2, 7x7 depth-wise
      or global-local filter mixer), built with the neck's ``norm_cfg`` / ``act_cfg`` (None by
      default, as in FPN). The laterals, the top-down path and the max-pool extra levels (Mask
      R-CNN) are FPN's.
    * With ``add_extra_convs`` (RetinaNet), each extra level is FPN's 3x3 stride-2 ``ConvModule``
      followed by a :class:`GnConvModule` (``fpn_convs.{j}.0`` / ``fpn_convs.{j}.1``). The official
      ``GNFPN`` meant this but could not build it (it passed a list to ``nn.Sequential``).

    Args:
        in_channels, out_channels, num_outs: as in FPN.
        gnconv_cfg: :class:`GnConvModule` arguments (or the official ``gn_conv_cfg`` spelling,
            see :func:`parse_gnconv_cfg`). Defaults to the paper's "HorFPN 7x7":
            ``dict(mixer='dw', kernel_size=7, order=2, proj_out=True)``; "HorFPN GF" is
            ``dict(mixer='gf', gf_size=(32, 17), order=2, proj_out=True)``.
        **kwargs: the other FPN arguments (``start_level``, ``add_extra_convs``, ``norm_cfg``,
            ``init_cfg``, ...). The default ``init_cfg`` (Xavier-uniform on every Conv2d) reaches
            the convs inside the gnConv modules too, as in the official neck.

    Example:
        >>> import torch
        >>> neck = HorFPN([96, 192, 384, 768], 256, num_outs=5)
        >>> feats = [torch.rand(1, c, 64 // 2**i, 64 // 2**i) for i, c in
        ...          enumerate([96, 192, 384, 768])]
        >>> [tuple(o.shape[-2:]) for o in neck(feats)]
        [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 num_outs: int,
                 *,
                 gnconv_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(in_channels, out_channels, num_outs, **kwargs)
        if gnconv_cfg is None:
            gnconv_cfg = dict(mixer='dw', kernel_size=7, order=2, proj_out=True)
        self.gnconv_cfg = parse_gnconv_cfg(gnconv_cfg)
        norm_cfg, act_cfg = kwargs.get('norm_cfg'), kwargs.get('act_cfg')
        num_levels = self.backbone_end_level - self.start_level
        for i, conv in enumerate(self.fpn_convs):
            gnconv = GnConvModule(
                out_channels, out_channels, norm_cfg=norm_cfg, act_cfg=act_cfg, **self.gnconv_cfg)
            # levels: replace the 3x3 conv; extra levels: keep FPN's 3x3 s2 conv, then gnConv
            self.fpn_convs[i] = gnconv if i < num_levels else nn.Sequential(conv, gnconv)
