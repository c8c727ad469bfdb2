"""Float synthesis trained by the encoder (exact integer twin: :mod:`lnic.model.synthesis`).

The 3x3 convs start at zero, so the network starts as the per-pixel MLP alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Synthesis(nn.Module):
    """Float synthesis network (trained by the encoder)."""

    def __init__(self, levels: int, hidden: int, channels: int):
        super().__init__()
        self.lin1 = nn.Linear(levels, hidden)
        self.lin2 = nn.Linear(hidden, channels)
        nn.init.constant_(self.lin2.bias, 0.5)
        self.conv_a = nn.Conv2d(channels, channels, 3)
        self.conv_b = nn.Conv2d(channels, channels, 3)
        for conv in (self.conv_a, self.conv_b):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """[levels, H, W] -> [channels, H, W]."""
        levels, h, w = z.shape
        y = self.lin2(torch.relu(self.lin1(z.reshape(levels, -1).T))).T.reshape(-1, h, w)
        y = y + self._conv(self.conv_a, y)
        return y + self._conv(self.conv_b, torch.relu(y))

    @staticmethod
    def _conv(conv: nn.Conv2d, y: torch.Tensor) -> torch.Tensor:
        return F.conv2d(edge_pad(y, 1)[None], conv.weight, conv.bias)[0]


def edge_pad(y: torch.Tensor, p: int) -> torch.Tensor:
    """Replicate the borders of [C, H, W] by ``p`` samples (index-based: compiles cleanly)."""
    _, h, w = y.shape
    rows = torch.arange(-p, h + p).clamp(0, h - 1)
    cols = torch.arange(-p, w + p).clamp(0, w - 1)
    return y.index_select(1, rows).index_select(2, cols)
