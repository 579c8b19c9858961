import torch
from torch import nn


class ElementScale(nn.Module):
    """Learnable per-channel scale of an NCHW tensor (MogaNet's ``sigma``, key ``scale``)."""

    def __init__(self, channels: int, init_value: float = 0., requires_grad: bool = True):
        super().__init__()
        self.scale = nn.Parameter(
            init_value * torch.ones((1, channels, 1, 1)), requires_grad=requires_grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale
