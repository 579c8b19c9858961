"""mmmoga: MogaNet, HorNet, Conv2Former and InceptionNeXt for OpenMMLab 2.x.

``import mmmoga`` (or ``custom_imports = dict(imports=['mmmoga'])`` in a config) registers every
model, neck, head, hook and optimizer constructor of the package, and lets mmengine's own training
checkpoints load under torch's ``weights_only=True`` default.
"""
from . import engine, models, registry  # noqa: F401
from .utils.checkpoint import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__']
