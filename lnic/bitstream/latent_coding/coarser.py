"""Copies of decoded coarser latents into their children's cells of the next finer grid.

The co-located coarser latent is the ARM's 13th input. The decoder copies each decoded coarser
value into the (up to) four cells of its children, where the window's centre picks it up before
the children overwrite it with their own values. Children are decoded at least ``GRID_LAG + t``
steps after their parent's wavefront t, so whole blocks of wavefronts are copied at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from lnic.bitstream.latent_coding.buffers import Grid, WaveGrid
from lnic.format import ARM_WAVEFRONT_SLOPE, GRID_LAG


class CoarserCopy(NamedTuple):
    """Run ``copy`` before the step at which the coarser grid decodes its wavefront ``until``
    (its wavefronts before ``until`` are decoded by then)."""

    until: int
    copy: Callable[[], None]


def wavefront_blocks(n_fronts: int) -> list[tuple[int, int]]:
    """Blocks [t0, t1) of a coarser grid's wavefronts that are copied at once.

    Children of the coarser latent (t, Y) are the cells (2t + j + S i, 2Y + i), i, j in {0, 1},
    of the finer grid, decoded from step ``start + GRID_LAG + 2t`` on; the wavefronts [t0, t1)
    of the coarser grid are decoded by step ``start + t1``. So ``t1 <= 2 t0 + GRID_LAG`` is
    early enough: about log2(wavefronts) copies per grid.
    """
    blocks, t0 = [], 0
    while t0 < n_fronts:
        t1 = min(n_fronts, 2 * t0 + GRID_LAG)
        blocks.append((t0, t1))
        t0 = t1
    return blocks


class _StridedCopy:
    """One strided copy between two wavefront-major buffers."""

    def __init__(self, coarse: WaveGrid, fine: WaveGrid, t0: int, t1: int) -> None:
        s = fine.buf.strides[0]
        self.dst = np.lib.stride_tricks.as_strided(
            fine.buf[fine.cell(2 * t0, 0) :],
            shape=(t1 - t0, 2, 2, coarse.h),
            strides=(2 * fine.hs * s, (ARM_WAVEFRONT_SLOPE * fine.hs + 1) * s, fine.hs * s, 2 * s),
        )
        self.src = np.lib.stride_tricks.as_strided(
            coarse.buf[coarse.cell(t0, 0) :],
            shape=(t1 - t0, 1, 1, coarse.h),
            strides=(coarse.hs * s, 0, 0, s),
        )
        # Children at x = w do not exist (odd widths): their cells are context of their
        # neighbours and must stay zero; (x = w, y) is cell (w + S y, y) for y = 0 .. h. A child
        # row y = h lands in the spare row that nothing reads.
        self.edge = None
        if 2 * coarse.w > fine.w:
            step = ARM_WAVEFRONT_SLOPE * fine.hs + 1
            self.edge = fine.buf[fine.cell(fine.w, 0) :: step][: fine.h + 1]

    def __call__(self) -> None:
        np.copyto(self.dst, self.src)
        if self.edge is not None:
            self.edge[...] = 0.0


class _IndexedCopy:
    """A gather and a scatter of cell indices (either grid in a raster buffer)."""

    def __init__(self, coarse: Grid, fine: Grid, t0: int, t1: int) -> None:
        counts = coarse.n[t0:t1]
        t = np.repeat(np.arange(t0, t1), counts)
        first = np.cumsum(counts) - counts  # index of each wavefront's first latent
        y = np.arange(len(t)) - np.repeat(first - coarse.y0[t0:t1], counts)
        x = t - ARM_WAVEFRONT_SLOPE * y
        src_cells, dst_cells = [], []
        for i in (0, 1):
            for j in (0, 1):
                keep = (2 * y + i < fine.h) & (2 * x + j < fine.w)
                src_cells.append(coarse.cell(t[keep], y[keep]))
                yf, xf = 2 * y[keep] + i, 2 * x[keep] + j
                dst_cells.append(fine.cell(xf + ARM_WAVEFRONT_SLOPE * yf, yf))
        self.src_buf, self.dst_buf = coarse.buf, fine.buf
        self.src_idx, self.dst_idx = np.concatenate(src_cells), np.concatenate(dst_cells)

    def __call__(self) -> None:
        self.dst_buf[self.dst_idx] = self.src_buf[self.src_idx]


def coarser_copies(coarse: Grid, fine: Grid) -> list[CoarserCopy]:
    """When and how the decoded values of ``coarse`` reach their children's cells in ``fine``."""
    both_wave = isinstance(coarse, WaveGrid) and isinstance(fine, WaveGrid)
    make = _StridedCopy if both_wave else _IndexedCopy
    return [
        CoarserCopy(t1, make(coarse, fine, t0, t1)) for t0, t1 in wavefront_blocks(coarse.n_fronts)
    ]
