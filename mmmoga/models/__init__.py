from . import backbones, classifiers, heads, layers, necks  # noqa: F401  (registers the models)
from .backbones import *  # noqa: F401,F403
from .classifiers import OfficialImageClassifier  # noqa: F401
from .heads import HorUPerHead  # noqa: F401
from .necks import HorFPN  # noqa: F401
from .utils import fuse_for_inference  # noqa: F401
