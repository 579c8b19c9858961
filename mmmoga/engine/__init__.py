from .hooks import RandomStateHook
from .model_wrappers import CPUDistributedDataParallel
from .optimizers import BackboneLayerDecayOptimWrapperConstructor  # noqa: F401  (registers it)

__all__ = ['CPUDistributedDataParallel', 'RandomStateHook']
