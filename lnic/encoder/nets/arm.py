"""Float ARM trained by the encoder (its exact integer twin is :mod:`lnic.model.arm`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lnic.model.arm import (
    CONTEXT_PAD,
    LOG_SCALE_MAX,
    LOG_SCALE_MIN,
    N_CONTEXT,
    gather_context,
)


def _pad_torch(g: torch.Tensor) -> torch.Tensor:
    return F.pad(g[None, None], (CONTEXT_PAD, CONTEXT_PAD, CONTEXT_PAD, 0))[0, 0]


def gather_context_torch(grids: list[torch.Tensor]) -> torch.Tensor:
    """:func:`lnic.model.arm.gather_context` on torch tensors (differentiable)."""
    return gather_context(grids, _pad_torch, torch.stack, torch.cat)


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
