"""Deployment: ONNX export of backbones and classifiers, checked with onnxruntime."""
from .onnx_export import build_exportable, check_onnx, export_onnx, fft_as_matmul

__all__ = ['build_exportable', 'check_onnx', 'export_onnx', 'fft_as_matmul']
