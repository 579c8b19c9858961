"""An mmpretrain ``ImageClassifier`` that loads the official ImageNet releases as they are.

The official MogaNet, HorNet, Conv2Former and InceptionNeXt checkpoints are timm-style state dicts
without mmpretrain's ``backbone.`` / ``head.fc.`` prefixes. :class:`OfficialImageClassifier`
renames them while they load, so ``tools/test.py CONFIG <official file>`` (mmengine's
``load_from``) evaluates a release without a conversion step.
"""
import re

import torch
from mmpretrain.models import ImageClassifier

from mmmoga.models.backbones.base_backbone import BaseBackbone
from mmmoga.registry import register_model

__all__ = ['OfficialImageClassifier']


@register_model()
class OfficialImageClassifier(ImageClassifier):
    """:class:`mmpretrain.models.ImageClassifier` that also loads the official, un-prefixed
    checkpoint layout of the mmmoga backbones.

    A state dict with no ``backbone.`` key is taken as an official release: its final classifier
    layer (the backbone's ``classifier_prefixes``, one prefix in its classification form) becomes
    ``head.fc.*`` and every other key ``backbone.*``.
    Besides the ``state_dict`` wrapper (unwrapped by mmengine), a ``model`` wrapper (the ConvNeXt
    training code's, HorNet) is unwrapped here.
    mmpretrain-layout state dicts (this classifier's own checkpoints) load unchanged. The head
    must be a linear head with an ``fc`` layer (``LinearClsHead``), the backbone an mmmoga backbone
    in its classification form (see the ``configs/imagenet_*.py``).

    Args: those of :class:`mmpretrain.models.ImageClassifier`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        name = type(self.backbone).__name__
        if not isinstance(self.backbone, BaseBackbone):
            raise TypeError(
                f'OfficialImageClassifier maps the official checkpoints of the mmmoga '
                f'backbones (MogaNet, HorNet, Conv2Former, InceptionNeXt, ...), got a '
                f'{name} backbone; use mmpretrain\'s ImageClassifier for other backbones.')
        prefixes = self.backbone.classifier_prefixes
        if len(prefixes) != 1:
            raise TypeError(f'OfficialImageClassifier needs the {name} backbone in its '
                            f'classification form (one official classifier layer, not '
                            f'{list(prefixes)}): see configs/imagenet_*.py')
        if not hasattr(self.head, 'fc'):
            raise TypeError(f'OfficialImageClassifier needs a head with an `fc` layer (e.g. '
                            f'LinearClsHead) to take the official classifier, got '
                            f'{type(self.head).__name__}')
        self.official_head_key = prefixes[0]
        self.register_load_state_dict_pre_hook(self._official_to_mmpretrain_keys)

    def _official_to_mmpretrain_keys(self, module, state_dict, prefix, *args) -> None:
        # mmengine unwraps only ``state_dict``; the ConvNeXt-style trainers (HorNet) save ``model``
        wrapped = state_dict.get(prefix + 'model')
        if isinstance(wrapped, dict):
            for key in [k for k in state_dict if k.startswith(prefix)]:
                del state_dict[key]
            state_dict.update((prefix + re.sub(r'^module\.', '', k), v) for k, v in wrapped.items()
                              if isinstance(v, torch.Tensor))
        keys = [k for k in state_dict if k.startswith(prefix)]
        if not keys or any(k.startswith(prefix + 'backbone.') for k in keys):
            return
        for key in keys:
            name = key[len(prefix):]
            if name.startswith(self.official_head_key):
                new = 'head.fc.' + name[len(self.official_head_key):]
            else:
                new = 'backbone.' + name
            state_dict[prefix + new] = state_dict.pop(key)
