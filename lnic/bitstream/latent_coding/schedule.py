"""The coding schedule: which step of the global schedule codes which latent, in which order.

Grid k (0 = finest, L-1 = coarsest) codes its anti-diagonal wavefront ``t = x + S*y``
(S = :data:`ARM_WAVEFRONT_SLOPE`) at step ``t + GRID_LAG * (L - 1 - k)``; a step codes the
wavefronts of all grids scheduled there, coarsest grid first, each by increasing ``y``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lnic.format import ARM_WAVEFRONT_SLOPE, GRID_LAG

Shapes = list[tuple[int, int]]
"""(height, width) of every grid, finest first."""


class Fronts(NamedTuple):
    """Extent of every wavefront ``t`` of a grid."""

    y0: np.ndarray
    """Row of its first latent."""
    n: np.ndarray
    """Its number of latents (0: empty, in grids narrower than the slope)."""


class CodingOrder(NamedTuple):
    """Latents in coding order."""

    order: np.ndarray
    """Indices into the concatenation of the grids' raster-order latents (finest grid first)."""
    step: np.ndarray
    """Schedule step of each."""


def grid_starts(levels: int) -> list[int]:
    """Step at which each grid (finest first) codes its wavefront 0."""
    return [GRID_LAG * (levels - 1 - k) for k in range(levels)]


def wavefront_count(h: int, w: int) -> int:
    """Wavefronts of an (h, w) grid."""
    return w + ARM_WAVEFRONT_SLOPE * (h - 1)


def num_steps(shapes: Shapes) -> int:
    """Sequential decoding steps (range-coder batches, at most) of a pyramid."""
    starts = grid_starts(len(shapes))
    return max(s + wavefront_count(h, w) for s, (h, w) in zip(starts, shapes))


def fronts(h: int, w: int) -> Fronts:
    """First row and length of every wavefront of an (h, w) grid."""
    slope = ARM_WAVEFRONT_SLOPE
    t = np.arange(wavefront_count(h, w))
    y0 = np.maximum(0, -((w - 1 - t) // slope))
    return Fronts(y0, np.maximum(0, np.minimum(h - 1, t // slope) - y0 + 1))


def coding_order(shapes: Shapes) -> CodingOrder:
    """Coding order of the latents of grids of ``shapes`` (finest first)."""
    starts = grid_starts(len(shapes))
    levels = len(shapes)
    steps, ranks, rows = [], [], []
    for k, (h, w) in enumerate(shapes):
        y, x = np.divmod(np.arange(h * w), w)
        steps.append(starts[k] + x + ARM_WAVEFRONT_SLOPE * y)
        ranks.append(np.full(h * w, levels - 1 - k))  # coarsest first within a step
        rows.append(y)
    step, rank, y = (np.concatenate(v) for v in (steps, ranks, rows))
    order = np.lexsort((y, rank, step))
    return CodingOrder(order, step[order])
