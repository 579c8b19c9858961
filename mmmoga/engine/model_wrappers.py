from mmengine.model import MMDistributedDataParallel

from mmmoga.registry import register_model_wrapper


@register_model_wrapper()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also wraps a CPU-resident model (gloo backend).

    mmengine's runner always passes ``device_ids=[LOCAL_RANK]``, which torch rejects for CPU
    modules. This wrapper drops ``device_ids``/``output_device`` when the module has no CUDA
    parameter, and is plain ``MMDistributedDataParallel`` otherwise. ``tools/train.py`` selects it
    on machines without a GPU.
    """

    def __init__(self, module, **kwargs):
        if not any(p.is_cuda for p in module.parameters()):
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)
