"""What ``import mmmoga`` registers depends on which OpenMMLab libraries are installed.

The backbones (and the layers and checkpoint loading) need only torch and mmengine. The parts
below import a task library (or mmcv, or OpenCV: mmengine's hooks import it) at module level;
where it is missing, ``import mmmoga`` leaves that part out quietly and remembers what is missing
for which task: :func:`missing_task_parts` lists it on request. A library that is installed but
fails to import for another reason (a version clash, a broken build) still raises.

The message comes where a missing part is used: :func:`check_config` (run by ``tools/train.py``
and ``tools/test.py`` on every config) and :func:`require_task_part` (the toy data sets) raise
:class:`MissingTaskLibraryError`, naming the part, the library and the pip extra that installs it.
"""
import importlib
import importlib.util
import re
from collections import OrderedDict
from types import ModuleType
from typing import Any, Dict, Iterator, NamedTuple, Optional

from .stack import LIBRARIES, install_names

__all__ = [
    'MissingTaskLibraryError', 'TASK_PARTS', 'import_task_part', 'require_task_part',
    'missing_task_parts', 'check_config', 'base_config_error'
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

FORKED = {library.module for library in LIBRARIES if library.fork}  # upstream or onedl-* fork


class TaskPart(NamedTuple):
    """A part of mmmoga that a task library provides the base of."""
    what: str  # what it registers
    task: str
    extra: str  # the pip extra that installs its libraries
    names: tuple = ()  # the type names it registers, as configs name them


#: mmmoga's modules that import a task library, in the order ``import mmmoga`` imports them
TASK_PARTS = OrderedDict([
    ('mmmoga.engine',
     TaskPart('the training hooks and the layer-decay optimizer constructor', 'training', 'all',
              ('AtomicCheckpointHook', 'NonFiniteLossHook', 'PreemptionHook', 'RandomStateHook',
               'CPUDistributedDataParallel', 'BackboneLayerDecayOptimWrapperConstructor'))),
    ('mmmoga.models.necks', TaskPart('the HorFPN neck', 'detection', 'det', ('HorFPN', ))),
    ('mmmoga.models.heads',
     TaskPart('the HorUPerHead decode head', 'segmentation', 'seg', ('HorUPerHead', ))),
    ('mmmoga.models.classifiers',
     TaskPart('OfficialImageClassifier', 'classification', 'cls', ('OfficialImageClassifier', ))),
    ('mmmoga.datasets',
     TaskPart('the AlignResize transform and the toy data sets', 'every task', 'all',
              ('AlignResize', ))),
])
#: a task with no module of its own in mmmoga: its configs only need the library
LIBRARY_ONLY_TASKS = OrderedDict([('mmpose', TaskPart('pose configs', 'pose estimation', 'pose'))])
#: the library of each ``default_scope`` and the extra that installs it
SCOPE_EXTRAS = {'mmdet': 'det', 'mmseg': 'seg', 'mmpose': 'pose', 'mmpretrain': 'cls'}


class MissingTaskLibraryError(ImportError):
    """A part of mmmoga (or a config) is used whose task library is not installed."""


_missing: Dict[str, str] = OrderedDict()  # task part module -> the missing top-level module


def import_task_part(module: str) -> Optional[ModuleType]:
    """Import one of :data:`TASK_PARTS`; ``None`` (remembered, see :func:`missing_task_parts`)
    when a library of :data:`TASK_LIBRARIES` is not installed. Other import errors propagate."""
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


def _needs(library: str, extra: str) -> str:
    if library in FORKED:  # an OpenMMLab library: upstream or its onedl-* fork
        return (f'{install_names(library)}, not installed (pip install "mmmoga[{extra}]" installs '
                f'the upstream one)')
    return f'{TASK_LIBRARIES[library]}, not installed (pip install "mmmoga[{extra}]")'


def missing_task_parts() -> Dict[str, str]:
    """What ``import mmmoga`` left out (``'<task>: <part>'``) -> the missing library and the pip
    extra that installs it (``'mmdet (or the fork onedl-mmdetection), not installed (pip install
    "mmmoga[det]" installs the upstream one)'``)."""
    found = OrderedDict()
    for module, missing in _missing.items():
        part = TASK_PARTS[module]
        found[f'{part.task}: {part.what}'] = _needs(missing, part.extra)
    for module, part in LIBRARY_ONLY_TASKS.items():
        if not _installed(module):
            found[f'{part.task}: {part.what}'] = _needs(module, part.extra)
    return found


def _missing_part_message(module: str, missing: str, used: str = '') -> str:
    part = TASK_PARTS[module]
    return (f'{used}{part.what} ({part.task}), built on {_needs(missing, part.extra)}. '
            f'mmmoga.missing_task_parts() lists every part left out.')


def require_task_part(module: str) -> ModuleType:
    """Import one of :data:`TASK_PARTS` for use; :class:`MissingTaskLibraryError` naming the
    part, the missing library and the pip extra where it was left out."""
    part = import_task_part(module)
    if part is None:
        raise MissingTaskLibraryError(_missing_part_message(module, _missing[module]))
    return part


def _type_names(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if isinstance(value.get('type'), str):
            yield value['type'].split('.')[-1]
        for item in value.values():
            yield from _type_names(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _type_names(item)


def check_config(cfg: Any, path: str = 'the config') -> None:
    """Raise :class:`MissingTaskLibraryError` where ``cfg`` (an mmengine ``Config`` or a dict)
    names a type of a part that ``import mmmoga`` left out, or where the library of its
    ``default_scope`` is not installed: naming the part, the library and the pip extra."""
    settings = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    scope = settings.get('default_scope')
    if scope in SCOPE_EXTRAS and not _installed(scope):
        raise MissingTaskLibraryError(
            f'{path} runs in the {scope} scope, which needs {_needs(scope, SCOPE_EXTRAS[scope])}.')
    names = set(_type_names(settings))
    for module, missing in _missing.items():
        used = sorted(names.intersection(TASK_PARTS[module].names))
        if used:
            raise MissingTaskLibraryError(
                _missing_part_message(module, missing, f'{path} names {", ".join(used)}: '))


def base_config_error(err: ModuleNotFoundError, path: str) -> Optional[MissingTaskLibraryError]:
    """For mmengine's error on a ``mmdet::``-style base config whose library is not installed
    (``mmdet is not installed, please install mmdet manually``): the same, naming the pip extra
    (and the fork); ``None`` for any other error."""
    match = re.match(r'(\S+) is not installed', str(err))
    scope = match and next(
        (library.module
         for library in LIBRARIES if match.group(1) in (library.upstream, library.fork)), None)
    if scope not in SCOPE_EXTRAS:
        return None
    return MissingTaskLibraryError(f'{path} inherits {scope}:: base configs, which need '
                                   f'{_needs(scope, SCOPE_EXTRAS[scope])}.')
