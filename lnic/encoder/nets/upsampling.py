"""Float upsampling trained by the encoder (exact integer twin: :mod:`lnic.model.upsampling`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lnic.model.upsampling import BICUBIC_INIT, up_axis


def _take(x: torch.Tensor, idx: np.ndarray, axis: int) -> torch.Tensor:
    return torch.index_select(x, axis, torch.from_numpy(idx))


def upsample2(x: torch.Tensor, taps, shape: tuple[int, int]) -> torch.Tensor:
    """Upsample [C, h, w] by 2 in both axes, cropped to ``shape`` (rows first, then columns)."""
    x = up_axis(x, taps, 2, shape[1], _take, torch.stack)
    return up_axis(x, taps, 1, shape[0], _take, torch.stack)


class Upsampler(nn.Module):
    """Float upsampling of a latent pyramid to a [levels, H, W] tensor (finest grid first)."""

    def __init__(self, levels: int):
        super().__init__()
        self.taps = nn.Parameter(torch.tensor([BICUBIC_INIT] * max(levels - 1, 0)))

    def forward(self, grids: list[torch.Tensor]) -> torch.Tensor:
        x = grids[-1][None]
        for k in range(len(grids) - 2, -1, -1):
            t = self.taps[k]
            x = upsample2(x, (t[0], t[1], t[2], t[3]), tuple(grids[k].shape))
            x = torch.cat([grids[k][None], x], 0)
        return x
