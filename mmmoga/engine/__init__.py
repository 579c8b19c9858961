from .fault_tolerance import (AtomicCheckpointHook, NonFiniteError, NonFiniteLossError,
                              NonFiniteLossHook, NonFiniteWeightsError)
from .hooks import RandomStateHook
from .model_wrappers import CPUDistributedDataParallel
from .optimizers import BackboneLayerDecayOptimWrapperConstructor  # noqa: F401  (registers it)
from .preemption import (PREEMPTED_EXIT_STATUS, PreemptionHook, ResumePositionError,
                         TrainingPreempted)

__all__ = [
    'AtomicCheckpointHook', 'CPUDistributedDataParallel', 'NonFiniteError', 'NonFiniteLossError',
    'NonFiniteLossHook', 'NonFiniteWeightsError', 'PREEMPTED_EXIT_STATUS', 'PreemptionHook',
    'RandomStateHook', 'ResumePositionError', 'TrainingPreempted'
]
