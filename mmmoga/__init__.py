"""mmmoga: MogaNet, HorNet, Conv2Former and InceptionNeXt for OpenMMLab 2.x.

``import mmmoga`` (or ``custom_imports = dict(imports=['mmmoga'])`` in a config) registers every
model, neck, head, hook and optimizer constructor of the package, and routes mmengine's checkpoint
loading through :func:`mmmoga.utils.load_checkpoint_file` (``weights_only=True`` with an allow-list
scoped to each load; see :mod:`mmmoga.utils.checkpoint`). Nothing process-wide widens what
``torch.load`` accepts.
"""
from . import datasets, engine, models, registry  # noqa: F401
from .utils.checkpoint import register_mmengine_loaders
from .version import __version__

register_mmengine_loaders()

__all__ = ['__version__']
