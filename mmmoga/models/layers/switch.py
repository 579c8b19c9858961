"""The on/off switches of mmmoga's optional kernels (:mod:`.cpu_ops`, :mod:`.gpu_ops`), the test
every fast path makes before it runs (no graph is being traced, scripted, compiled or exported),
and the look-up of the defaults by measurement (:func:`measured_for`).

A switch's ``with`` block (:meth:`Switch.override`) holds for the current context only (a
:mod:`contextvars` value: this thread, or this asyncio task), never for other threads.
:func:`switch_states` captures every switch as the forward saw it and :func:`switches_restored`
sets them again, which is how activation checkpointing recomputes a block under the switches of
the forward it recomputes (:func:`~mmmoga.models.layers.checkpoint_block`).
"""
import contextlib
import contextvars
import os
from typing import Dict, Iterator, Mapping, Optional, Sequence

import torch

__all__ = [
    'Switch', 'compute_dtype', 'measured_for', 'switch_states', 'switches_restored', 'tracing'
]


def _is_exporting() -> bool:
    # torch.compiler.is_exporting exists from torch 2.6; before it, torch.export (strict) traces
    # through dynamo, which torch.compiler.is_compiling reports
    is_exporting = getattr(torch.compiler, 'is_exporting', None)
    return bool(is_exporting()) if is_exporting is not None else False


def tracing() -> bool:
    """Whether a graph is being captured (``torch.jit``, ``torch.compile``, ``torch.export``, ONNX),
    where the plain PyTorch ops must be seen."""
    return (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()
            or _is_exporting() or torch.onnx.is_in_onnx_export())


#: every switch by name (:func:`switch_states`)
_SWITCHES: Dict[str, 'Switch'] = {}


class Switch:
    """On or off: the innermost :meth:`override` ``with`` block of the current context if one is
    active, else the environment variable ``env_var`` (``1/true/on`` or ``0/false/off``; None: no
    variable), else ``default``."""

    def __init__(self, name: str, default: bool, env_var: Optional[str] = None):
        if name in _SWITCHES:
            raise ValueError(f'a switch named {name!r} exists already')
        self.name = name
        self.env_var = env_var
        self.default = default
        self._override: contextvars.ContextVar = contextvars.ContextVar(
            f'mmmoga_switch_{name}', default=None)
        _SWITCHES[name] = self

    def enabled(self) -> bool:
        override = self._override.get()
        if override is not None:
            return override
        if self.env_var is not None:
            value = os.environ.get(self.env_var, '').strip().lower()
            if value in ('1', 'true', 'on'):
                return True
            if value in ('0', 'false', 'off'):
                return False
        return self.default

    @contextlib.contextmanager
    def override(self, enabled: Optional[bool]) -> Iterator[None]:
        """``enabled`` inside the ``with`` block (of this context); None: no override there (the
        environment variable and the default decide)."""
        token = self._override.set(None if enabled is None else bool(enabled))
        try:
            yield
        finally:
            self._override.reset(token)


def switch_states() -> Dict[str, Optional[bool]]:
    """The active override of every switch in the current context (None: none active)."""
    return {name: switch._override.get() for name, switch in _SWITCHES.items()}


@contextlib.contextmanager
def switches_restored(states: Dict[str, Optional[bool]]) -> Iterator[None]:
    """Every switch as :func:`switch_states` captured it, inside the ``with`` block."""
    with contextlib.ExitStack() as stack:
        for name, state in states.items():
            stack.enter_context(_SWITCHES[name].override(state))
        yield


#: the names of the compute dtypes in the tables of measured defaults
DTYPE_NAMES = {torch.float32: 'fp32', torch.bfloat16: 'bf16', torch.float16: 'fp16'}


def compute_dtype(x: torch.Tensor) -> str:
    """The dtype the layers compute ``x`` in, by name: the autocast dtype where autocast is on
    for ``x``'s device, else ``x``'s own (``'fp32'``, ``'bf16'``, ``'fp16'``; else str(dtype))."""
    device = x.device.type
    dtype = x.dtype
    if torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
    return DTYPE_NAMES.get(dtype, str(dtype))


def measured_for(table: Mapping[str, Sequence[str]], x: torch.Tensor) -> bool:
    """Whether a table of measured defaults (device type -> the compute dtypes where the
    measurement showed a gain, ``'*'`` for all of them) covers ``x``: its device type and
    :func:`compute_dtype`."""
    dtypes = table.get(x.device.type, ())
    return '*' in dtypes or compute_dtype(x) in dtypes
