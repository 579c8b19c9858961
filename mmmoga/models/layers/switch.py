"""The on/off switch of mmmoga's optional kernels (:mod:`.cpu_ops`, :mod:`.gpu_ops`), and the test
every fast path makes before it runs: no graph is being traced, scripted, compiled or exported."""
import contextlib
import os
from typing import Iterator, Optional

import torch

__all__ = ['KernelSwitch', 'tracing']


def tracing() -> bool:
    """Whether a graph is being captured (``torch.jit``, ``torch.compile``, ``torch.export``, ONNX),
    where the plain PyTorch ops must be seen."""
    return (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()
            or torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export())


class KernelSwitch:
    """On or off: :meth:`override`'s ``with`` block if one is active (this process, all threads),
    else the environment variable ``env_var`` (``1/true/on`` or ``0/false/off``), else
    ``default``."""

    def __init__(self, env_var: str, default: bool):
        self.env_var = env_var
        self.default = default
        self._override: Optional[bool] = None

    def enabled(self) -> bool:
        if self._override is not None:
            return self._override
        value = os.environ.get(self.env_var, '').strip().lower()
        if value in ('1', 'true', 'on'):
            return True
        if value in ('0', 'false', 'off'):
            return False
        return self.default

    @contextlib.contextmanager
    def override(self, enabled: bool) -> Iterator[None]:
        previous, self._override = self._override, bool(enabled)
        try:
            yield
        finally:
            self._override = previous
