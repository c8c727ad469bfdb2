"""Synthesis: per-pixel MLP from the upsampled latents to colour, then two 3x3 residual convs.

``levels -> hidden (1x1, ReLU) -> channels (1x1)``, then ``y += conv3x3(y)`` and
``y += conv3x3(relu(y))`` with replicated borders. The 3x3 convs start at zero (identity).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lnic.model.quantized import QuantizedLinear, integer_linear


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


def _im2col3x3(y: np.ndarray) -> np.ndarray:
    """[C, H, W] -> [H*W, C*9], columns ordered (channel, dy, dx), borders replicated."""
    c, h, w = y.shape
    p = np.pad(y, ((0, 0), (1, 1), (1, 1)), mode="edge")
    cols = [p[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    return np.stack(cols, axis=1).reshape(c * 9, h * w).T


def synthesis_integer(
    layers: list[QuantizedLinear], z: np.ndarray, frac: int, clamp: int
) -> np.ndarray:
    """Exact integer synthesis. ``z`` is [levels, H, W] fixed point; returns [C, H, W] likewise.

    ``layers`` are lin1, lin2, conv_a, conv_b (conv weights flattened to [out, in*9]).
    """
    lin1, lin2, conv_a, conv_b = layers
    levels, h, w = z.shape
    x = integer_linear(lin1, z.reshape(levels, -1).T, frac, clamp, relu=True)
    y = integer_linear(lin2, x, frac, clamp, relu=False).T.reshape(-1, h, w)
    y = y + integer_linear(conv_a, _im2col3x3(y), frac, clamp, relu=False).T.reshape(y.shape)
    r = np.maximum(y, 0.0)
    y = y + integer_linear(conv_b, _im2col3x3(r), frac, clamp, relu=False).T.reshape(y.shape)
    return np.clip(y, -clamp, clamp)


def synthesis_macs(levels: int, hidden: int, channels: int) -> int:
    """Multiply-accumulates per pixel of the synthesis."""
    return levels * hidden + hidden * channels + 2 * 9 * channels * channels
