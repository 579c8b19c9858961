import logging
import uuid

import pytest
from mmengine.logging import MMLogger


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
