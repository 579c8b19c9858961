"""What ``import mmmoga`` registers depends on which OpenMMLab libraries are installed.

The backbones (and the layers and checkpoint loading) need only torch and mmengine. The parts
below import a task library (or mmcv, or OpenCV: mmengine's hooks import it) at module level;
where it is missing, ``import mmmoga`` leaves that part out, remembers what is missing for which
task, and says it once, in one :class:`MissingTaskLibraryWarning`. A library that is installed but
fails to import for another reason (a version clash, a broken build) still raises, as before.

Silence the warning with ``warnings.filterwarnings('ignore', category=UserWarning,
message='mmmoga: ')`` before the import, or install the task stack (``pip install
'mmmoga[all]'`` or ``python tools/setup_env.py``).
"""
import importlib
import importlib.util
import warnings
from collections import OrderedDict
from types import ModuleType
from typing import Dict, NamedTuple, Optional

from .stack import LIBRARIES, install_names

__all__ = [
    'MissingTaskLibraryWarning', 'TASK_PARTS', 'import_task_part', 'missing_task_parts',
    'warn_missing_task_libraries'
]

#: top-level module -> pip distribution, for every library a task part may miss
TASK_LIBRARIES = {
    'cv2': 'opencv-python',
    'mmcv': 'mmcv',
    'mmdet': 'mmdet',
    'mmseg': 'mmsegmentation',
    'mmpretrain': 'mmpretrain',
    'mmpose': 'mmpose',
}

STACK_MODULES = {library.module for library in LIBRARIES}


class TaskPart(NamedTuple):
    """A part of mmmoga that a task library provides the base of."""
    what: str  # what it registers
    task: str
    extra: str  # the pip extra that installs its libraries


#: mmmoga's modules that import a task library, in the order ``import mmmoga`` imports them
TASK_PARTS = OrderedDict([
    ('mmmoga.engine',
     TaskPart('the training hooks and the layer-decay optimizer constructor', 'training', 'all')),
    ('mmmoga.models.necks', TaskPart('the HorFPN neck', 'detection', 'det')),
    ('mmmoga.models.heads', TaskPart('the HorUPerHead decode head', 'segmentation', 'seg')),
    ('mmmoga.models.classifiers', TaskPart('OfficialImageClassifier', 'classification', 'cls')),
    ('mmmoga.datasets',
     TaskPart('the AlignResize transform and the toy data sets', 'every task', 'all')),
])
#: a task with no module of its own in mmmoga: its configs only need the library
LIBRARY_ONLY_TASKS = OrderedDict([('mmpose', TaskPart('pose configs', 'pose estimation', 'pose'))])


class MissingTaskLibraryWarning(UserWarning):
    """``import mmmoga`` left out task parts whose libraries are not installed."""


_missing: Dict[str, str] = OrderedDict()  # task part module -> the missing top-level module
_warned = False


def import_task_part(module: str) -> Optional[ModuleType]:
    """Import one of :data:`TASK_PARTS`; ``None`` (remembered for the warning) when a library of
    :data:`TASK_LIBRARIES` is not installed. Other import errors propagate."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = (err.name or '').split('.')[0]
        if missing not in TASK_LIBRARIES:
            raise
        _missing[module] = missing
        return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _fix(library: str, extra: str) -> str:
    if library in STACK_MODULES:  # an OpenMMLab library: upstream or its onedl-* fork
        return (f'missing {install_names(library)}, pip install "mmmoga[{extra}]" for the '
                f'upstream one')
    return f'missing {TASK_LIBRARIES[library]}, pip install "mmmoga[{extra}]"'


def missing_task_parts() -> Dict[str, str]:
    """What ``import mmmoga`` left out (``'<task>: <part>'``) -> the missing library and the pip
    extra that installs it."""
    found = OrderedDict()
    for module, missing in _missing.items():
        part = TASK_PARTS[module]
        found[f'{part.task}: {part.what}'] = _fix(missing, part.extra)
    for module, part in LIBRARY_ONLY_TASKS.items():
        if not _installed(module):
            found[f'{part.task}: {part.what}'] = _fix(module, part.extra)
    return found


def warn_missing_task_libraries() -> None:
    """Say once which task parts were left out and what installs them (nothing when none was)."""
    global _warned
    missing = missing_task_parts()
    if _warned or not missing:
        return
    _warned = True
    listed = '; '.join(f'{what} ({fix})' for what, fix in missing.items())
    warnings.warn(
        f'mmmoga: the backbones (MogaNet, HorNet, Conv2Former, InceptionNeXt) are registered and '
        f'usable; not registered, because a library they build on is not installed: {listed}. '
        f'pip install "mmmoga[all]" (or python tools/setup_env.py in a checkout) installs the '
        f'whole stack.',
        MissingTaskLibraryWarning,
        stacklevel=3)
