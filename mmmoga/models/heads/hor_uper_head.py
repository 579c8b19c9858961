"""HorUPerHead: mmseg's UPerHead with a gnConv ``fpn_bottleneck`` (HorNet paper, Table 3,
"HorFPN" for UperNet).

Official code (mmseg 0.x ``GNUPerHead``):
https://github.com/raoyongming/HorNet/blob/master/semantic_segmentation/decode_heads/gn_uper_head.py

Key names match the official head (``fpn_bottleneck.{proj_in, dwconv, pws.0, proj_out, bn}``).
"""
from typing import Optional, Sequence

from mmseg.models.decode_heads import UPerHead

from mmmoga.models.layers.gnconv import GnConvModule, parse_gnconv_cfg
from mmmoga.registry import register_model

__all__ = ['HorUPerHead']


@register_model()
class HorUPerHead(UPerHead):
    """:class:`~mmseg.models.decode_heads.UPerHead` whose ``fpn_bottleneck`` (a 3x3 ConvModule on
    the concatenated ``len(in_channels) * channels`` maps) is a :class:`GnConvModule` to
    ``channels``.

    The PPM, its ``bottleneck``, the lateral 1x1 and the ``fpn_convs`` 3x3 convs are UPerHead's.
    The head's ``norm_cfg`` (``bn``) and ``act_cfg`` follow the gnConv, as in the official
    ``GNUPerHead``.

    Args:
        gnconv_cfg: :class:`GnConvModule` arguments (or the official ``conv_cfg`` spelling, see
            :func:`~mmmoga.models.layers.gnconv.parse_gnconv_cfg`). Defaults to the paper's
            "HorFPN 7x7": ``dict(mixer='dw', kernel_size=7, order=2, proj_out=True)``; "HorFPN GF"
            is ``dict(mixer='gf', gf_size=(32, 17), order=2, proj_out=True)``.
        pool_scales, **kwargs: as in UPerHead.
    """

    def __init__(self,
                 pool_scales: Sequence[int] = (1, 2, 3, 6),
                 *,
                 gnconv_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(pool_scales=pool_scales, **kwargs)
        if gnconv_cfg is None:
            gnconv_cfg = dict(mixer='dw', kernel_size=7, order=2, proj_out=True)
        self.gnconv_cfg = parse_gnconv_cfg(gnconv_cfg)
        self.fpn_bottleneck = GnConvModule(
            len(self.in_channels) * self.channels,
            self.channels,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg,
            **self.gnconv_cfg)
