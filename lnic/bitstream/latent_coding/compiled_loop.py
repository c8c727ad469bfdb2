"""The decoding loop with two compiled calls per step (:mod:`lnic.bitstream.arm_kernels`): the ARM
with its context gathering and table rows, then the store of the decoded latents.

Importing this module imports numba: the decoder does so only when
:data:`lnic.bitstream.arm_kernels.AVAILABLE`.
"""

from __future__ import annotations

import constriction
import numpy as np

from lnic.bitstream import arm_kernels
from lnic.bitstream.latent_coding.buffers import WaveGrid
from lnic.bitstream.latent_coding.escapes import EscapeCodes
from lnic.bitstream.latent_coding.plan import N_OUTPUTS, OUT_HI, OUT_LO, ROW_WEIGHTS, ArmPlan
from lnic.bitstream.latent_coding.steps import DecodeSteps, Segment
from lnic.bitstream.latent_coding.symbols import RESIDUAL_VALUE, coder_table, range_model
from lnic.bitstream.latent_coding.window import CELLS, COLS, ROW_STEP, ROWS
from lnic.errors import BitstreamError
from lnic.format import ARM_ACT_CLAMP

_COLUMN_ORDER = (
    arm_kernels.SEG_START,
    arm_kernels.SEG_STRIDE,
    arm_kernels.SEG_LENGTH,
    arm_kernels.SEG_OFFSET,
    arm_kernels.SEG_DST,
)
if _COLUMN_ORDER != tuple(range(arm_kernels.SEG_COLUMNS)):
    raise AssertionError("_segment_table writes the columns in another order")


def _segment_table(segments: list[Segment]) -> np.ndarray:
    """The kernels' segment table of a step's wavefront-major segments (columns in
    :data:`_COLUMN_ORDER`)."""
    rows = [
        (g.base + anchor, g.hs, m, off, g.base + cell)
        for g, _, anchor, cell, m, off in segments
        if anchor >= 0
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, arm_kernels.SEG_COLUMNS)


def _bounds(clamps: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Output bounds and the hidden activations' bound: every clamp, or only scale_idx clipped
    (see :meth:`ArmPlan.clamps_may_bite`)."""
    if clamps:
        return OUT_LO.copy(), OUT_HI.copy(), float(ARM_ACT_CLAMP)
    lo, hi = np.full(N_OUTPUTS, -np.inf), np.full(N_OUTPUTS, np.inf)
    lo[-1], hi[-1] = OUT_LO[-1], OUT_HI[-1]
    return lo, hi, np.inf


def _gather_raster(x_buf: np.ndarray, n: int, raster: list[Segment]) -> None:
    """The context windows of the step's raster-layout segments, into ``x_buf`` as [.., n]."""
    x = x_buf[: (CELLS + 1) * n].reshape(CELLS + 1, n)
    for seg in raster:
        grid = seg.grid
        x[:-1, seg.offset : seg.offset + seg.length] = grid.window(seg.t)


def _store_raster(sym: np.ndarray, o_buf: np.ndarray, n: int, raster: list[Segment]) -> None:
    """The decoded latents of the step's raster-layout segments."""
    for seg in raster:
        grid = seg.grid
        lo, hi = seg.offset, seg.offset + seg.length
        grid.buf[grid.front_cells(seg.t)] = RESIDUAL_VALUE[sym[lo:hi]] + o_buf[n + lo : n + hi]


def compiled_loop(
    decoder: constriction.stream.queue.RangeDecoder,
    escapes: EscapeCodes,
    plan: ArmPlan,
    steps: DecodeSteps,
    clamps: bool,
) -> None:
    """Decode every step (with all of the ARM's clamps if ``clamps``)."""
    table = coder_table()
    n_sym, max_n = table.shape[1], steps.max_n
    x_buf = np.empty((CELLS + 1) * max_n)
    scratch = tuple(np.empty(m.shape[0] * max_n) for m in plan.hidden)
    o_buf = np.empty(N_OUTPUTS * max_n)
    prob_buf = np.empty(n_sym * max_n, dtype=table.dtype)
    storage = next((g.storage for g in steps.grids if isinstance(g, WaveGrid)), np.zeros(1))
    window, bounds = (ROWS, COLS, ROW_STEP), _bounds(clamps)
    tables = (ROW_WEIGHTS, table, prob_buf)
    arm_step, store_step = arm_kernels.arm_step, arm_kernels.store_step
    decode, model, hidden, output = decoder.decode, range_model(), plan.hidden, plan.output
    seg_tables = [_segment_table(step.segments) for step in steps.steps]
    rasters = [[seg for seg in step.segments if seg.anchor < 0] for step in steps.steps]
    for (copies, n, segments, _), wave, raster in zip(steps.steps, seg_tables, rasters):
        if copies:
            for copy in copies:
                copy()
        if raster:
            _gather_raster(x_buf, n, raster)
        ok = arm_step(
            storage, wave, n, window, x_buf, hidden, scratch, output, o_buf, bounds, tables
        )
        if not ok:
            raise BitstreamError("corrupt latent section (entropy model out of range)")
        try:
            sym = decode(model, prob_buf[: n_sym * n].reshape(n, n_sym))
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        top = store_step(sym, RESIDUAL_VALUE, o_buf, n, storage, wave)
        if raster:
            _store_raster(sym, o_buf, n, raster)
        escapes.after_step(sym, segments, top)
