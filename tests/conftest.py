import logging
import os
import uuid

import pytest
import torch

if not torch.cuda.is_available():
    # mmmoga's Triton kernels (tests/test_gpu_ops.py) are checked on CPU tensors by Triton's
    # interpreter, which must be chosen before Triton is first imported (mmengine imports it).
    # Nothing else runs Triton kernels on a machine without a GPU.
    os.environ.setdefault('TRITON_INTERPRET', '1')

from mmengine.logging import MMLogger  # noqa: E402


@pytest.fixture
def mm_log():
    """A fresh MMLogger made mmengine's current logger; yields the list of its messages."""
    logger = MMLogger.get_instance(f'test_{uuid.uuid4().hex}')
    messages = []

    class Collect(logging.Handler):

        def emit(self, record):
            messages.append(record.getMessage())

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
