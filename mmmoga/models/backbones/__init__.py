from .base_backbone import BaseBackbone
from .hornet import HorNet
from .moganet import MogaNet

__all__ = ['BaseBackbone', 'MogaNet']
__all__ += ['HorNet']
from .conv2former import Conv2Former  # noqa: E402
from .inception_next import InceptionNeXt  # noqa: E402

__all__ += ['Conv2Former', 'InceptionNeXt']
