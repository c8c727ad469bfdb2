"""Float ARM trained by the encoder (its exact integer twin is :mod:`lnic.model.arm`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lnic.model.arm import (
    ARM_CONTEXT,
    CONTEXT_PAD,
    LOG_SCALE_MAX,
    LOG_SCALE_MIN,
    N_CONTEXT,
    coarser_colocated,
    shifted,
)


def gather_context_torch(grids: list[torch.Tensor]) -> torch.Tensor:
    """ARM inputs of every latent of every grid (finest first, raster order): [N, N_CONTEXT]."""
    rows = []
    for k, g in enumerate(grids):
        h, w = g.shape
        padded = F.pad(g[None, None], (CONTEXT_PAD, CONTEXT_PAD, CONTEXT_PAD, 0))[0, 0]
        cols = [shifted(padded, dy, dx, h, w) for dy, dx in ARM_CONTEXT]
        if k + 1 < len(grids):
            cols.append(coarser_colocated(grids[k + 1], (h, w)))
        else:
            cols.append(torch.zeros_like(g))
        rows.append(torch.stack(cols, dim=-1).reshape(h * w, N_CONTEXT))
    return torch.cat(rows, dim=0)


class Arm(nn.Module):
    """Float ARM: N_CONTEXT -> hidden (x layers, ReLU) -> 2 outputs (mu, log-scale)."""

    def __init__(self, hidden: int, layers: int):
        super().__init__()
        dims = [N_CONTEXT] + [hidden] * layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(dims[-1], 2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def linears(self) -> list[nn.Linear]:
        return [*self.hidden, self.out]

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = context
        for layer in self.hidden:
            x = torch.relu(layer(x))
        out = self.out(x)
        return out[:, 0], out[:, 1].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)
