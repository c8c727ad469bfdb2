"""The decoder's grid buffers: wavefront-major for speed, raster for tall, narrow grids.

A wavefront-major buffer holds a grid zero-padded and indexed ``(t, y)`` with ``t = x + S*y``
(S = :data:`ARM_WAVEFRONT_SLOPE`): the latents of one wavefront are contiguous, and each row of
the context window around them is a run of cells at a fixed offset, so one strided view gathers
a whole wavefront's context. It costs about ``(w + S*h) * h`` cells; a grid for which that is
too much uses a raster buffer, where the latents of a wavefront lie ``pw - S`` cells apart (``pw``
the padded width): a strided view all the same, with a larger stride.
"""

from __future__ import annotations

import numpy as np

from lnic.bitstream.latent_coding.schedule import Shapes, fronts, wavefront_count
from lnic.bitstream.latent_coding.window import (
    COLS,
    DY_MIN,
    FIRST,
    ROW_STEP,
    ROWS,
    SHIFT,
    T_BACK,
    T_FRONT,
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


class _GridBuffer:
    """What both layouts share: a zeroed region of the storage that every grid's buffer lives in
    (the compiled loop addresses them all through it), and the context windows as a strided
    view.

    A window cell ``(r, c)`` of a wavefront's latent ``i`` lies ``r row_stride + c col_stride +
    i lat_stride`` cells after its *anchor* (cell ``(0, 0)`` of its first latent's window);
    consecutive latents of a wavefront lie ``lat_stride`` cells apart.
    """

    wave: bool
    h: int
    w: int
    row_stride: int
    col_stride: int
    lat_stride: int

    def _attach(self, storage: np.ndarray, base: int, size: int) -> None:
        self.n_fronts = wavefront_count(self.h, self.w)
        self.y0, self.n = fronts(self.h, self.w)
        self.max_n = max(1, int(self.n.max(initial=0)))
        self.base, self.storage = base, storage
        self.buf = storage[base : base + size]
        s = self.buf.strides[0]
        self.windows = np.lib.stride_tricks.as_strided(
            self.buf,
            shape=(size - self.extent(), ROWS, COLS, self.max_n),
            strides=(s, self.row_stride * s, self.col_stride * s, self.lat_stride * s),
            writeable=False,
        )
        if self.n_fronts and int(self.anchor(np.arange(self.n_fronts)).max()) >= len(self.windows):
            raise AssertionError("a window view would reach past the grid's buffer")

    def extent(self) -> int:
        """Cells a window view spans from its anchor (all of a wavefront's latents)."""
        return (
            (ROWS - 1) * self.row_stride
            + (COLS - 1) * self.col_stride
            + (self.max_n - 1) * self.lat_stride
            + 1
        )

    def front(self, cell: int, length: int) -> np.ndarray:
        """The ``length`` latents of a wavefront whose first latent is at ``cell``, as a view."""
        return self.buf[cell : cell + (length - 1) * self.lat_stride + 1 : self.lat_stride]


class WaveGrid(_GridBuffer):
    """A grid in a wavefront-major buffer: cell (t, y) at ``(t + T_FRONT) * hs + y + Y_PAD``."""

    wave = True

    def __init__(self, h: int, w: int, storage: np.ndarray, base: int) -> None:
        """``storage``: the zeroed buffer of all grids, of which this grid uses :meth:`size`
        cells from ``base`` on."""
        self.h, self.w = h, w
        self.hs = hs = h + Y_PAD + Y_SPARE
        # The window of the wavefront whose first latent is (t, y0) starts at cell
        # (t - T_FRONT, y0 - Y_PAD), i.e. at t * hs + y0 (its anchor); its cell (row r, j)
        # for latent i lies ROW_STEP * hs + 1 cells per row, hs per column and 1 per latent on.
        self.row_stride, self.col_stride, self.lat_stride = ROW_STEP * hs + 1, hs, 1
        self._attach(storage, base, self.size(h, w))

    @staticmethod
    def size(h: int, w: int) -> int:
        """Cells of the buffer of an (h, w) grid (the last window view stays inside it)."""
        hs = h + Y_PAD + Y_SPARE
        return (wavefront_count(h, w) + T_FRONT + T_BACK + 2) * hs + 2 * h + 16

    def anchor(self, t: np.ndarray) -> np.ndarray:
        """Anchors (buffer cells) of the windows of wavefront(s) ``t``."""
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


class RasterGrid(_GridBuffer):
    """A grid in a raster buffer: cell (y, x) at ``(y + Y_PAD) * pw + x + X_PAD``, ``pw`` being
    the width with X_PAD columns on either side. The latents of a wavefront lie ``pw - S`` cells
    apart, the rows of a window ``pw + SHIFT``."""

    wave = False

    def __init__(self, h: int, w: int, storage: np.ndarray, base: int) -> None:
        self.h, self.w = h, w
        self.pw = pw = w + 2 * X_PAD
        self.row_stride, self.col_stride = pw + SHIFT, 1
        self.lat_stride = pw - ARM_WAVEFRONT_SLOPE
        self._attach(storage, base, self.size(h, w))

    @staticmethod
    def size(h: int, w: int) -> int:
        pw = w + 2 * X_PAD
        # (the view of the windows of the last wavefront reaches its last latent's window)
        tail = (pw - ARM_WAVEFRONT_SLOPE) * max(1, -(-w // ARM_WAVEFRONT_SLOPE)) + 2 * pw
        return (h + Y_PAD + Y_SPARE) * pw + 2 * X_PAD + tail

    def cell(self, t, y):
        return (y + Y_PAD) * self.pw + t - ARM_WAVEFRONT_SLOPE * y + X_PAD

    def anchor(self, t: np.ndarray) -> np.ndarray:
        return self.cell(t, self.y0[t]) + DY_MIN * self.row_stride + FIRST

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
    """Empty decoding buffers for every grid, all in one zeroed array."""
    kinds = [WaveGrid if wave_layout_fits(h, w) else RasterGrid for h, w in shapes]
    sizes = [kind.size(h, w) for kind, (h, w) in zip(kinds, shapes)]
    storage = np.zeros(sum(sizes))
    bases = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    return [kind(h, w, storage, base) for kind, (h, w), base in zip(kinds, shapes, bases)]
