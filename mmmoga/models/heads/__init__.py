from .hor_uper_head import HorUPerHead

__all__ = ['HorUPerHead']
