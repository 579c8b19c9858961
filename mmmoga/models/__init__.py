from mmmoga.task_libraries import import_task_part
from . import backbones, layers  # noqa: F401  (registers the backbones)
from .backbones import *  # noqa: F401,F403
from .factory import create_backbone, list_backbones  # noqa: F401
from .utils import fuse_for_inference  # noqa: F401

# the necks, heads and classifiers build on mmdet, mmseg and mmpretrain: registered where those
# are installed (see mmmoga.task_libraries)
if import_task_part('mmmoga.models.necks'):
    from .necks import HorFPN  # noqa: F401
if import_task_part('mmmoga.models.heads'):
    from .heads import HorUPerHead  # noqa: F401
if import_task_part('mmmoga.models.classifiers'):
    from .classifiers import OfficialImageClassifier  # noqa: F401
