"""Activation layers from config dicts, mmcv's ``build_activation_layer`` without mmcv."""
from torch import nn

__all__ = ['ACTIVATION_LAYERS', 'build_activation_layer']

#: activation types by name: the torch classes mmcv registers under these names
ACTIVATION_LAYERS = {
    cls.__name__: cls
    for cls in (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ReLU6, nn.ELU, nn.Sigmoid, nn.Tanh,
                nn.SiLU, nn.GELU)
}


def build_activation_layer(cfg: dict) -> nn.Module:
    """Build an activation from ``dict(type=<name>, **args)``.

    The names of :data:`ACTIVATION_LAYERS` build torch's classes directly; any other type is built
    by mmengine's ``MODELS`` registry, where mmcv registers its own (``Clamp``, ``HSwish``,
    ``Swish``, ``HSigmoid``) once it is imported.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'act_cfg must be a dict with a "type", such as dict(type=\'ReLU\'), got '
                        f'{cfg!r}')
    args = dict(cfg)
    act_type = args.pop('type')
    if act_type in ACTIVATION_LAYERS:
        return ACTIVATION_LAYERS[act_type](**args)
    if isinstance(act_type, type):
        return act_type(**args)
    from mmengine.registry import MODELS
    with MODELS.switch_scope_and_registry(None) as registry:
        if registry.get(act_type) is None:
            raise KeyError(f'Unknown activation type {act_type!r} in act_cfg: use one of '
                           f'{sorted(ACTIVATION_LAYERS)}, an activation class, or a type '
                           f"registered in mmengine's MODELS registry (mmcv registers Clamp, "
                           f'HSwish, Swish and HSigmoid once imported)')
        return registry.build(cfg)
