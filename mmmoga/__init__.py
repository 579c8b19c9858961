"""mmmoga: MogaNet, HorNet, Conv2Former and InceptionNeXt for OpenMMLab 2.x, and anywhere else.

``import mmmoga`` (or ``custom_imports = dict(imports=['mmmoga'])`` in a config) registers every
model, neck, head, hook and optimizer constructor of the package, and routes mmengine's checkpoint
loading through :func:`mmmoga.utils.load_checkpoint_file` (``weights_only=True`` with an allow-list
scoped to each load; see :mod:`mmmoga.utils.checkpoint`). Nothing process-wide widens what
``torch.load`` accepts.

It checks the OpenMMLab stack it finds, upstream or the ``onedl-*`` forks (:mod:`mmmoga.stack`).
The backbones need only torch, mmengine and safetensors: where mmcv, a task library or OpenCV is
missing, the parts built on it are left out quietly; :func:`missing_task_parts` lists them, and
using one (a config that names it, the toy data sets) raises an error that names the part and the
pip extra that installs it (:mod:`mmmoga.task_libraries`).
:func:`create_backbone` builds them by name, timm-style (:mod:`mmmoga.models.factory`).
"""
from .stack import check_stack, mend_mmseg_scope

check_stack()  # the upstream OpenMMLab packages or their onedl-* forks, of the 2.x generation

from . import models, registry  # noqa: F401,E402
from .models import create_backbone, list_backbones  # noqa: E402
from .task_libraries import import_task_part, missing_task_parts  # noqa: E402
from .utils.checkpoint import register_mmengine_loaders  # noqa: E402
from .version import __version__  # noqa: E402

mend_mmseg_scope()  # `mmseg::` base configs under onedl-mmengine (see mmmoga.stack)
import_task_part('mmmoga.engine')  # the hooks (mmengine's hooks import OpenCV)
import_task_part('mmmoga.datasets')  # the AlignResize transform (mmcv) and the toy data sets
register_mmengine_loaders()

__all__ = ['__version__', 'create_backbone', 'list_backbones', 'missing_task_parts']
