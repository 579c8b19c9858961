from .hor_fpn import HorFPN

__all__ = ['HorFPN']
