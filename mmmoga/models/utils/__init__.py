"""Model utilities: inference fusion."""
from .fusion import FusedConv2FormerBlock, FusedMogaBlock, fuse_for_inference

__all__ = ['FusedConv2FormerBlock', 'FusedMogaBlock', 'fuse_for_inference']
