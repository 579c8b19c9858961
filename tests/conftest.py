import logging
import os
import uuid

import pytest

# `make test` runs the suite in pytest-xdist workers; they share the machine's cores, so each
# worker and the processes its tests start compute with an equal share of them (set before torch
# is imported, which reads it).
_WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if _WORKERS > 1:
    _CORES = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    os.environ.setdefault('OMP_NUM_THREADS', str(max(1, (_CORES or 1) // _WORKERS)))

import torch  # noqa: E402

if not torch.cuda.is_available():
    # mmmoga's Triton kernels (tests/test_gpu_ops.py) are checked on CPU tensors by Triton's
    # interpreter, which must be chosen before Triton is first imported (mmengine imports it).
    # Nothing else runs Triton kernels on a machine without a GPU.
    os.environ.setdefault('TRITON_INTERPRET', '1')

from mmengine.logging import MMLogger  # noqa: E402


class CapturedLog(list):
    """What a logger logged: its messages (a list of str), with their levels."""

    def __init__(self):
        super().__init__()
        self.levels = []

    def add(self, record: logging.LogRecord) -> None:
        self.append(record.getMessage())
        self.levels.append(record.levelno)

    def at_least(self, level: int) -> list:
        """The messages of ``level`` or above (``logging.WARNING``: warnings and errors)."""
        return [message for message, at in zip(self, self.levels) if at >= level]

    def clear(self) -> None:
        super().clear()
        self.levels.clear()


@pytest.fixture
def mm_log():
    """A fresh MMLogger made mmengine's current logger; yields a :class:`CapturedLog` of what it
    logs."""
    logger = MMLogger.get_instance(f'test_{uuid.uuid4().hex}', log_level='INFO')
    messages = CapturedLog()

    class Collect(logging.Handler):

        def emit(self, record):
            messages.add(record)

    handler = Collect(level=logging.DEBUG)
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


@pytest.fixture(autouse=True, scope='session')
def read_task_library_metafiles_once():
    """Read each YAML metafile of the task libraries once per test session.

    mmengine re-reads every metafile of mmdet/mmseg/mmpose/mmpretrain (hundreds of files) for each
    ``mmdet::``-style base it resolves, which dominates the time of parsing a config. The files do
    not change during a test run, and mmengine only reads what it gets. Test speed only.
    """
    import mmengine.config.utils as config_utils
    original = config_utils.load
    cache = {}

    def load(file, *args, **kwargs):
        if args or kwargs or not isinstance(file, str) or not file.endswith(('.yml', '.yaml')):
            return original(file, *args, **kwargs)
        if file not in cache:
            cache[file] = original(file)
        return cache[file]

    config_utils.load = load
    yield
    config_utils.load = original


@pytest.fixture(autouse=True, scope='session')
def read_each_config_once():
    """Parse each config of ``configs/`` once per test session; every ``Config.fromfile`` of it
    returns a fresh deep copy (change it freely). Parsing resolves the ``mmdet::``-style bases and
    the shared ``_base_`` files again for every call, and the suite reads every config in several
    test files. Files elsewhere (a test's own config) are parsed on every call. Test speed only."""
    import copy
    import os.path as osp

    from mmengine.config import Config

    configs = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs') + osp.sep
    original = Config.fromfile
    cache = {}

    def fromfile(filename, *args, **kwargs):
        path = osp.abspath(str(filename))
        if not path.startswith(configs):
            return original(filename, *args, **kwargs)
        key = (path, os.stat(path).st_mtime_ns, args, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = original(filename, *args, **kwargs)
        return copy.deepcopy(cache[key])

    Config.fromfile = staticmethod(fromfile)
    yield
    Config.fromfile = staticmethod(original)
