"""The latent pyramid: one single-channel grid per scale 1, 1/2, ..., 1/2**(L-1)."""

from __future__ import annotations

import math

from lnic.format import MAX_LEVELS, MIN_COARSEST_SIDE


def num_levels(height: int, width: int) -> int:
    """Number of grids for an image: up to 7, fewer when the coarsest grid would be too small."""
    levels = 1
    while levels < MAX_LEVELS and math.ceil(min(height, width) / 2**levels) >= MIN_COARSEST_SIDE:
        levels += 1
    return levels


def grid_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """(height, width) of each grid, finest first: ceil(H / 2**k) x ceil(W / 2**k)."""
    return [(math.ceil(height / 2**k), math.ceil(width / 2**k)) for k in range(levels)]
