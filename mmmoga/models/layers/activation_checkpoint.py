"""Activation checkpointing of a block (``with_cp``): its activations are recomputed in the
backward pass instead of kept (checkpoint files are :mod:`mmmoga.utils.checkpoint`)."""
from contextlib import contextmanager, nullcontext
from typing import Dict, Optional

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from .switch import switch_states, switches_restored


@contextmanager
def _batchnorm_stats_frozen(module: nn.Module):
    """Keep BatchNorm running statistics unchanged while a checkpointed block is recomputed.

    Without this, every BN in a checkpointed block would update its running mean/var twice per step
    (forward and recompute), and a ``with_cp=True`` run would evaluate differently from a plain one.
    """
    saved = []
    for m in module.modules():
        if isinstance(m, _BatchNorm) and m.training and m.track_running_stats:
            saved.append((m, m.momentum, m.num_batches_tracked.clone()))
            m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum, num_batches_tracked in saved:
            m.momentum = momentum
            m.num_batches_tracked.copy_(num_batches_tracked)


def checkpoint_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``block(x)`` with non-reentrant activation checkpointing (same outputs and gradients).

    The recomputation in the backward pass runs under the kernel switches of this forward
    (:func:`~mmmoga.models.layers.switch.switch_states`, e.g. inside
    :func:`~mmmoga.models.layers.kernels_off` or ``cpu_kernels(False)``), whatever is switched
    where the backward runs, as it runs under the forward's autocast state and RNG: otherwise it
    could take another path, save other tensors and fail (``CheckpointError``)."""
    states = switch_states()
    return checkpoint(
        block,
        x,
        use_reentrant=False,
        context_fn=lambda: (nullcontext(), _recomputation(block, states)))


@contextmanager
def _recomputation(block: nn.Module, states: Dict[str, Optional[bool]]):
    """What the recomputation of ``block`` runs under (entered only when it starts)."""
    with _batchnorm_stats_frozen(block), switches_restored(states):
        yield
