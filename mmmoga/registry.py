"""mmmoga's registries.

Every class is registered twice, on purpose:

* in mmengine's root registries, so that a bare ``type='MogaNet'`` resolves from any task library's
  ``default_scope`` (mmdet, mmseg, mmpose, mmpretrain are children of the root and fall back to it);
* in the ``mmmoga`` child registries, so that ``type='mmmoga.HorNet'`` always means ours, also
  where a task library owns the same bare name (mmpretrain's ``HorNet``).

A bare name that a task library already registers keeps resolving to that library's class inside its
own scope; this is why the clashing names must be written with the ``mmmoga.`` prefix there.
"""
from typing import Callable, Optional, Type

from mmengine.registry import HOOKS as ROOT_HOOKS
from mmengine.registry import MODEL_WRAPPERS as ROOT_MODEL_WRAPPERS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ROOT_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import TRANSFORMS as ROOT_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry('model', parent=ROOT_MODELS, scope='mmmoga', locations=['mmmoga.models'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=ROOT_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmmoga',
    locations=['mmmoga.engine'])
HOOKS = Registry('hook', parent=ROOT_HOOKS, scope='mmmoga', locations=['mmmoga.engine'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=ROOT_MODEL_WRAPPERS, scope='mmmoga', locations=['mmmoga.engine'])
TRANSFORMS = Registry(
    'transform', parent=ROOT_TRANSFORMS, scope='mmmoga', locations=['mmmoga.datasets'])


def _register_twice(scoped: Registry, root: Registry) -> Callable:

    def register(name: Optional[str] = None) -> Callable[[Type], Type]:

        def decorator(cls: Type) -> Type:
            scoped.register_module(name=name, module=cls)
            root.register_module(name=name, module=cls)
            return cls

        return decorator

    return register


register_model = _register_twice(MODELS, ROOT_MODELS)
register_optim_wrapper_constructor = _register_twice(OPTIM_WRAPPER_CONSTRUCTORS,
                                                     ROOT_OPTIM_WRAPPER_CONSTRUCTORS)
register_hook = _register_twice(HOOKS, ROOT_HOOKS)
register_model_wrapper = _register_twice(MODEL_WRAPPERS, ROOT_MODEL_WRAPPERS)
register_transform = _register_twice(TRANSFORMS, ROOT_TRANSFORMS)
