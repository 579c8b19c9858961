from . import backbones, heads, layers, necks  # noqa: F401  (importing registers the models)
from .backbones import *  # noqa: F401,F403
from .heads import HorUPerHead
from .necks import HorFPN
