"""Bricks shared between model families."""
from .checkpoint import checkpoint_block
from .cpu_ops import conv2d_act, cpu_kernels, cpu_kernels_enabled, phase_dilated_conv2d
from .gnconv import GlobalLocalFilter, GnConv, GnConvModule, parse_gnconv_cfg, resize_complex_weight
from .gpu_ops import (depthwise_conv2d, gpu_kernels, gpu_kernels_apply, gpu_kernels_enabled,
                      silu_product)
from .norm import LayerNorm2d, build_out_norm
from .scale import ElementScale, in_fp16_autocast, layer_scaled

__all__ = [
    'ElementScale', 'GlobalLocalFilter', 'GnConv', 'GnConvModule', 'LayerNorm2d', 'build_out_norm',
    'checkpoint_block', 'conv2d_act', 'cpu_kernels', 'cpu_kernels_enabled', 'depthwise_conv2d',
    'gpu_kernels', 'gpu_kernels_apply', 'gpu_kernels_enabled', 'in_fp16_autocast', 'layer_scaled',
    'silu_product', 'parse_gnconv_cfg', 'phase_dilated_conv2d', 'resize_complex_weight'
]
