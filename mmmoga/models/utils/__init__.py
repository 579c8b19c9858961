"""Model utilities: inference fusion."""
from .fusion import fuse_for_inference

__all__ = ['fuse_for_inference']
