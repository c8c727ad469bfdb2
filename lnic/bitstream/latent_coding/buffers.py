"""The decoder's grid buffers: wavefront-major for speed, raster for tall, narrow grids.

A wavefront-major buffer holds a grid zero-padded and indexed ``(t, y)`` with ``t = x + S*y``
(S = :data:`ARM_WAVEFRONT_SLOPE`): the latents of one wavefront are contiguous, and each row of
the context window around them is a run of cells at a fixed offset, so one strided view gathers
a whole wavefront's context. It costs about ``(w + S*h) * h`` cells; a grid for which that is
too much uses a raster buffer, which needs one index gather per wavefront.
"""

from __future__ import annotations

import numpy as np

from lnic.bitstream.latent_coding.schedule import Shapes, fronts, wavefront_count
from lnic.bitstream.latent_coding.window import (
    COLS,
    ROW_STEP,
    ROWS,
    T_BACK,
    T_FRONT,
    WINDOW_CELLS,
    X_PAD,
    Y_PAD,
    Y_SPARE,
)
from lnic.format import ARM_WAVEFRONT_SLOPE

MAX_LAYOUT_RATIO = 6
"""The wavefront-major buffer of an (h, w) grid holds about (w + 2 h) * h cells: grids for which
that exceeds this many times h * w (taller than about 2.5 times their width) use the raster
layout, which is slower (one gather per wavefront) but needs only h * w cells."""

LAYOUT_SLACK = 1 << 16
"""Cells the wavefront-major layout may always use (small grids never fall back)."""


class WaveGrid:
    """A grid in a wavefront-major buffer: cell (t, y) at ``(t + T_FRONT) * hs + y + Y_PAD``."""

    wave = True

    def __init__(self, h: int, w: int, storage: np.ndarray, base: int) -> None:
        """``storage``: a zeroed buffer shared by all wavefront-major grids (the compiled loop
        addresses them all through it), of which this grid uses :meth:`size` cells from
        ``base`` on."""
        self.h, self.w = h, w
        self.hs = hs = h + Y_PAD + Y_SPARE
        self.n_fronts = wavefront_count(h, w)
        self.base, self.storage = base, storage
        self.buf = storage[base : base + self.size(h, w)]
        # The window of the wavefront whose first latent is (t, y0) starts at cell
        # (t - T_FRONT, y0 - Y_PAD), i.e. at t * hs + y0 (its "anchor"); its cell (row r, j)
        # for latent i lies ROW_STEP * hs + 1 cells per row, hs per column and 1 per latent on.
        s = self.buf.strides[0]
        self.windows = np.lib.stride_tricks.as_strided(
            self.buf,
            shape=(self.n_fronts * hs, ROWS, COLS, h),
            strides=(s, (ROW_STEP * hs + 1) * s, hs * s, s),
            writeable=False,
        )
        self.y0, self.n = fronts(h, w)

    @staticmethod
    def size(h: int, w: int) -> int:
        """Cells of the buffer of an (h, w) grid."""
        hs = h + Y_PAD + Y_SPARE
        return (wavefront_count(h, w) + T_FRONT + T_BACK + 2) * hs + 2 * h + 16

    def anchor(self, t: np.ndarray) -> np.ndarray:
        """Index into :attr:`windows` of the window of wavefront(s) ``t``."""
        return t * self.hs + self.y0[t]

    def cell(self, t, y):
        return (t + T_FRONT) * self.hs + y + Y_PAD

    def raster_view(self) -> np.ndarray:
        """The grid as an (h, w) view: cell (y, x) is at (x + S y, y)."""
        s = self.buf.strides[0]
        return np.lib.stride_tricks.as_strided(
            self.buf[self.cell(0, 0) :],
            shape=(self.h, self.w),
            strides=((ARM_WAVEFRONT_SLOPE * self.hs + 1) * s, self.hs * s),
        )


class RasterGrid:
    """A grid in a raster buffer: cell (y, x) at ``(y + Y_PAD) * pw + x + X_PAD``, ``pw`` being
    the width with X_PAD columns on either side."""

    wave = False

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.pw = pw = w + 2 * X_PAD
        self.n_fronts = wavefront_count(h, w)
        self.buf = np.zeros((h + Y_PAD + Y_SPARE) * pw + 2 * X_PAD)
        self.offsets = np.array([dy * pw + dx for dy, dx in WINDOW_CELLS])
        self.y0, self.n = fronts(h, w)

    def cell(self, t, y):
        return (y + Y_PAD) * self.pw + t - ARM_WAVEFRONT_SLOPE * y + X_PAD

    def front_cells(self, t: int) -> np.ndarray:
        """Cells of the latents of wavefront ``t``."""
        return self.cell(t, np.arange(self.y0[t], self.y0[t] + self.n[t]))

    def window(self, t: int) -> np.ndarray:
        """The context windows of wavefront ``t``: [window cells, latents]."""
        return self.buf[self.offsets[:, None] + self.front_cells(t)[None, :]]

    def raster_view(self) -> np.ndarray:
        return self.buf[Y_PAD * self.pw : (self.h + Y_PAD) * self.pw].reshape(self.h, self.pw)[
            :, X_PAD : self.w + X_PAD
        ]


Grid = WaveGrid | RasterGrid


def wave_layout_fits(h: int, w: int) -> bool:
    """Whether an (h, w) grid gets a wavefront-major buffer."""
    cells = (wavefront_count(h, w) + T_FRONT + T_BACK) * (h + Y_PAD + Y_SPARE)
    return cells <= MAX_LAYOUT_RATIO * h * w + LAYOUT_SLACK


def make_grids(shapes: Shapes) -> list[Grid]:
    """Empty decoding buffers for every grid; the wavefront-major ones share one array."""
    wave = [wave_layout_fits(h, w) for h, w in shapes]
    sizes = [WaveGrid.size(h, w) if ok else 0 for (h, w), ok in zip(shapes, wave)]
    storage = np.zeros(sum(sizes))
    bases = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    return [
        WaveGrid(h, w, storage, base) if ok else RasterGrid(h, w)
        for (h, w), ok, base in zip(shapes, wave, bases)
    ]
