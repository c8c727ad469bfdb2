"""After a decoding pass without the ARM's clamps: did none of them bite after all?

A clamp can only bite for a latent with an ARM input above the largest magnitude ``m`` for which
:meth:`ArmPlan.clamps_may_bite` is False. Those latents (around the few large ones) get the exact
ARM (``arm_integer``) and the unclamped one, from the decoded values: if they agree everywhere,
the pass was exact (at the first latent where they would not, the decoded context was still
exact, and that latent is among those checked).
"""

from __future__ import annotations

import numpy as np

from lnic.bitstream.latent_coding.plan import ArmPlan
from lnic.format import ARM_ACT_FRAC_BITS, ARM_CONTEXT
from lnic.model.arm import N_CONTEXT, arm_integer, table_indices
from lnic.model.quantized import QuantizedLinear, integer_linear

MAX_CHECKED = 1 << 16
"""Latents per grid whose ARM output is recomputed at most (beyond: decode again, clamped)."""

_CHILDREN = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
_EXACT_LIMIT = 2.0**50
"""Beyond this, float64 arithmetic of the unclamped ARM may round: assume a clamp bit."""


def clamps_did_not_bite(arm: list[QuantizedLinear], plan: ArmPlan, grids: list[np.ndarray]) -> bool:
    """Whether decoding ``grids`` (finest first) without the clamps gave what decoding with them
    would have."""
    bound = plan.clamp_free_bound()
    contexts = []
    for k in range(len(grids)):
        cells = _suspect_cells(grids, k, bound)
        if len(cells) > MAX_CHECKED:
            return False
        contexts.append(_contexts(grids, k, cells))
    ctx = np.concatenate(contexts)
    if not len(ctx):
        return True
    mu, scale = arm_integer(arm, ctx)
    x = ctx * 2.0**ARM_ACT_FRAC_BITS  # the same without clamps
    for i, layer in enumerate(arm):
        x = integer_linear(layer, x, ARM_ACT_FRAC_BITS, 1 << 62, relu=i < len(arm) - 1)
    if np.abs(x).max() >= _EXACT_LIMIT:
        return False
    free_mu, free_scale = table_indices(x)
    return bool(np.array_equal(mu, free_mu) and np.array_equal(scale, free_scale))


def _suspect_cells(grids: list[np.ndarray], k: int, bound: int) -> np.ndarray:
    """(y, x) of the latents of grid ``k`` with an ARM input above ``bound``: a large causal
    neighbour or a large co-located coarser latent."""
    g = grids[k]
    h, w = g.shape
    big = np.argwhere(np.abs(g) > bound)
    cells = [big[:, None, :] - np.array(ARM_CONTEXT)[None, :, :]]
    if k + 1 < len(grids):
        parents = np.argwhere(np.abs(grids[k + 1]) > bound)
        cells.append(2 * parents[:, None, :] + _CHILDREN)
    cells = np.concatenate([c.reshape(-1, 2) for c in cells])
    inside = (cells[:, 0] >= 0) & (cells[:, 0] < h) & (cells[:, 1] >= 0) & (cells[:, 1] < w)
    return np.unique(cells[inside], axis=0)


def _contexts(grids: list[np.ndarray], k: int, cells: np.ndarray) -> np.ndarray:
    """ARM inputs [len(cells), N_CONTEXT] of the latents ``cells`` of grid ``k``."""
    g = grids[k]
    w = g.shape[1]
    ctx = np.zeros((len(cells), N_CONTEXT))
    for j, (dy, dx) in enumerate(ARM_CONTEXT):
        y, x = cells[:, 0] + dy, cells[:, 1] + dx
        ok = (y >= 0) & (x >= 0) & (x < w)
        ctx[ok, j] = g[y[ok], x[ok]]
    if k + 1 < len(grids):
        ctx[:, -1] = grids[k + 1][cells[:, 0] // 2, cells[:, 1] // 2]
    return ctx
