"""Bricks shared between model families (torch and mmengine only: no mmcv)."""
from .activation import build_activation_layer
from .activation_checkpoint import checkpoint_block
from .cpu_ops import conv2d_act, cpu_kernels, cpu_kernels_enabled, phase_dilated_conv2d
from .drop import DropPath, drop_path
from .gnconv import GlobalLocalFilter, GnConv, GnConvModule, parse_gnconv_cfg, resize_complex_weight
from .gpu_ops import (depthwise_conv2d, gpu_kernels, gpu_kernels_apply, gpu_kernels_enabled,
                      kernels_off, silu_product)
from .norm import LayerNorm2d, build_norm_layer, build_out_norm
from .scale import ElementScale, in_fp16_autocast, layer_scaled

__all__ = [
    'DropPath', 'ElementScale', 'GlobalLocalFilter', 'GnConv', 'GnConvModule', 'LayerNorm2d',
    'build_activation_layer', 'build_norm_layer', 'build_out_norm', 'checkpoint_block',
    'conv2d_act', 'cpu_kernels', 'cpu_kernels_enabled', 'depthwise_conv2d', 'drop_path',
    'gpu_kernels', 'gpu_kernels_apply', 'gpu_kernels_enabled', 'in_fp16_autocast', 'kernels_off',
    'layer_scaled', 'silu_product', 'parse_gnconv_cfg', 'phase_dilated_conv2d',
    'resize_complex_weight'
]
