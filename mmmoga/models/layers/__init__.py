"""Bricks shared between model families."""
from .checkpoint import checkpoint_block
from .gnconv import GlobalLocalFilter, GnConv, GnConvModule, parse_gnconv_cfg, resize_complex_weight
from .norm import LayerNorm2d, build_out_norm
from .scale import ElementScale

__all__ = [
    'ElementScale', 'GlobalLocalFilter', 'GnConv', 'GnConvModule', 'LayerNorm2d', 'build_out_norm',
    'checkpoint_block', 'parse_gnconv_cfg', 'resize_complex_weight'
]
