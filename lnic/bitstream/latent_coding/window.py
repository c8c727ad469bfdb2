"""The context window the decoder gathers around a wavefront, and the padding its buffers need.

The window of a latent is a parallelogram of :data:`ROWS` rows (``dy = DY_MIN .. 0``) of
:data:`COLS` cells holding its ARM context and the latent itself: row ``dy`` covers
``dx = FIRST + SHIFT*dy .. FIRST + SHIFT*dy + COLS - 1``, with the shift per row that makes it
narrowest. In a wavefront-major buffer the windows of a whole wavefront are one strided view;
the window's cells that are not context get zero weights (:mod:`.plan`), and its centre
``(0, 0)`` carries the co-located coarser latent until the latent itself is decoded.
"""

from __future__ import annotations

from typing import NamedTuple

from lnic.format import ARM_CONTEXT, ARM_WAVEFRONT_SLOPE

DY_MIN = min(dy for dy, _ in ARM_CONTEXT)
ROW_DY = tuple(range(DY_MIN, 1))
"""``dy`` of the window's rows, top to bottom."""
ROWS = len(ROW_DY)

if not all(DY_MIN <= dy <= 0 and (dy < 0 or dx < 0) for dy, dx in ARM_CONTEXT):
    raise AssertionError("the ARM context is not causal in raster order")
if not all(dx + ARM_WAVEFRONT_SLOPE * dy < 0 for dy, dx in ARM_CONTEXT):
    raise AssertionError("the ARM context is not in earlier wavefronts")


class WindowShape(NamedTuple):
    shift: int
    """``dx`` shift from one row to the next."""
    first: int
    """``dx`` of the first cell of row ``dy = 0``."""
    cols: int
    """Cells per row."""


def window_shape() -> WindowShape:
    """The narrowest parallelogram holding the context and the centre."""
    need = {
        dy: [dx for d, dx in ARM_CONTEXT if d == dy] + ([0] if dy == 0 else []) for dy in ROW_DY
    }
    best = None
    for shift in range(-4, 5):
        lo = min(min(v) - shift * dy for dy, v in need.items() if v)
        hi = max(max(v) - shift * dy for dy, v in need.items() if v)
        if best is None or hi - lo < best.cols - 1:
            best = WindowShape(shift, lo, hi - lo + 1)
    assert best is not None
    return best


SHIFT, FIRST, COLS = window_shape()
CELLS = ROWS * COLS
"""Cells of the window (the ARM's first layer acts on these and a constant one)."""


def column(dy: int, dx: int) -> int:
    """Index of cell ``(dy, dx)`` in the window, rows first."""
    return (dy - DY_MIN) * COLS + dx - FIRST - SHIFT * dy


CENTRE = column(0, 0)
"""The current latent's cell, holding the co-located coarser latent when the ARM reads it."""
CONTEXT_COLUMNS = [column(dy, dx) for dy, dx in ARM_CONTEXT]
WINDOW_CELLS = [(dy, FIRST + SHIFT * dy + j) for dy in ROW_DY for j in range(COLS)]
"""(dy, dx) of every window cell, rows first."""
ROW_STEP = ARM_WAVEFRONT_SLOPE + SHIFT
"""Wavefronts from the start of one window row to the start of the next."""

T_FRONT = -min(dx + ARM_WAVEFRONT_SLOPE * dy for dy, dx in WINDOW_CELLS)
"""The window of wavefront t starts at wavefront t - T_FRONT ..."""
T_BACK = max(max(dx + ARM_WAVEFRONT_SLOPE * dy for dy, dx in WINDOW_CELLS) + 1, ARM_WAVEFRONT_SLOPE)
"""... and ends before wavefront t + T_BACK."""
Y_PAD = -DY_MIN
"""Rows above a grid that windows reach."""
Y_SPARE = 1
"""Row ``y = h`` below a grid: children of an odd-height grid's last coarser row land there."""
X_PAD = max(abs(dx) for _, dx in WINDOW_CELLS)
"""Raster layout: columns either side of a grid that windows reach."""
