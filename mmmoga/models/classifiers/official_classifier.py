"""An mmpretrain ``ImageClassifier`` that loads the official ImageNet releases as they are.

The official MogaNet, HorNet, Conv2Former and InceptionNeXt checkpoints are timm-style state dicts
without mmpretrain's ``backbone.`` / ``head.fc.`` prefixes. :class:`OfficialImageClassifier`
renames them while they load, so ``tools/test.py CONFIG <official file>`` (mmengine's
``load_from``) evaluates a release without a conversion step.
"""
import re
from typing import Dict

import torch
from mmpretrain.models import ImageClassifier

from mmmoga.registry import register_model

__all__ = ['OfficialImageClassifier', 'OFFICIAL_HEAD_KEYS']

#: backbone class -> prefix of the official final classifier layer (mmpretrain ``head.fc``);
#: every other official key belongs to the backbone's classification form
OFFICIAL_HEAD_KEYS: Dict[str, str] = {
    'MogaNet': 'head.',  # Linear on GAP(norm4(stage 4)): GlobalAveragePooling + LinearClsHead
    'HorNet': 'head.',  # Linear on norm(GAP(stage 4)): backbone gap_before_final_norm=True
    'Conv2Former': 'pred.',  # head.{0,2} (conv 1x1, LN) live in the backbone (with_cls_head)
    'InceptionNeXt': 'head.fc2.',  # head.fc1, head.norm live in the backbone (with_cls_head)
}


@register_model()
class OfficialImageClassifier(ImageClassifier):
    """:class:`mmpretrain.models.ImageClassifier` that also loads the official, un-prefixed
    checkpoint layout of the mmmoga backbones.

    A state dict with no ``backbone.`` key is taken as an official release: its final classifier
    layer (:data:`OFFICIAL_HEAD_KEYS`) becomes ``head.fc.*`` and every other key ``backbone.*``.
    Besides the ``state_dict`` wrapper (unwrapped by mmengine), a ``model`` wrapper (the ConvNeXt
    training code's, HorNet) is unwrapped here.
    mmpretrain-layout state dicts (this classifier's own checkpoints) load unchanged. The head
    must be a linear head with an ``fc`` layer (``LinearClsHead``), the backbone one of
    :data:`OFFICIAL_HEAD_KEYS` in its classification form (see the ``configs/imagenet_*.py``).

    Args: those of :class:`mmpretrain.models.ImageClassifier`.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        name = type(self.backbone).__name__
        if name not in OFFICIAL_HEAD_KEYS:
            raise TypeError(f'OfficialImageClassifier maps the official checkpoints of '
                            f'{sorted(OFFICIAL_HEAD_KEYS)}, got a {name} backbone; use '
                            f'mmpretrain\'s ImageClassifier for other backbones.')
        if not hasattr(self.head, 'fc'):
            raise TypeError(f'OfficialImageClassifier needs a head with an `fc` layer (e.g. '
                            f'LinearClsHead) to take the official classifier, got '
                            f'{type(self.head).__name__}')
        self.official_head_key = OFFICIAL_HEAD_KEYS[name]
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
