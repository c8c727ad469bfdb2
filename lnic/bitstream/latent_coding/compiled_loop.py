"""The decoding loop with two compiled calls per step (:mod:`lnic.bitstream.arm_kernels`): the ARM
with its context gathering and table rows, then the store of the decoded latents.

Every grid, in either layout, lives in one storage array, and every segment's windows and
latents are affine in its cells (:mod:`.buffers`), so one segment table per step describes all
of a step's work to the kernels.
"""

from __future__ import annotations

import constriction
import numpy as np

from lnic.bitstream import arm_kernels
from lnic.bitstream.arm_kernels import Kernels
from lnic.bitstream.latent_coding.escapes import EscapeCodes
from lnic.bitstream.latent_coding.plan import N_OUTPUTS, OUT_HI, OUT_LO, ROW_WEIGHTS, ArmPlan
from lnic.bitstream.latent_coding.steps import DecodeSteps, Segment
from lnic.bitstream.latent_coding.symbols import (
    RESIDUAL_VALUE,
    coder_table,
    frequency_costs,
    range_model,
)
from lnic.bitstream.latent_coding.window import CELLS, ROWS
from lnic.errors import BitstreamError
from lnic.format import ARM_ACT_CLAMP

_COLUMN_ORDER = (
    arm_kernels.SEG_START,
    arm_kernels.SEG_ROW,
    arm_kernels.SEG_COL,
    arm_kernels.SEG_LAT,
    arm_kernels.SEG_LENGTH,
    arm_kernels.SEG_OFFSET,
    arm_kernels.SEG_DST,
)
if _COLUMN_ORDER != tuple(range(arm_kernels.SEG_COLUMNS)):
    raise AssertionError("segment_table writes the columns in another order")


def segment_table(segments: list[Segment]) -> np.ndarray:
    """The kernels' segment table of a step (columns in :data:`_COLUMN_ORDER`; the numba and
    the C kernels read the same tables)."""
    rows = [
        (g.base + anchor, g.row_stride, g.col_stride, g.lat_stride, m, off, g.base + cell)
        for g, _, anchor, cell, m, off in segments
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, arm_kernels.SEG_COLUMNS)


def output_bounds(clamps: bool) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Output bounds, the hidden activations' bound and the window's rows: every clamp, or only
    scale_idx clipped (see :meth:`ArmPlan.clamps_may_bite`); the numba and the C kernels take
    the same."""
    if clamps:
        return OUT_LO.copy(), OUT_HI.copy(), float(ARM_ACT_CLAMP), ROWS
    lo, hi = np.full(N_OUTPUTS, -np.inf), np.full(N_OUTPUTS, np.inf)
    lo[-1], hi[-1] = OUT_LO[-1], OUT_HI[-1]
    return lo, hi, np.inf, ROWS


def compiled_loop(
    kernels: Kernels,
    decoder: constriction.stream.queue.RangeDecoder,
    escapes: EscapeCodes,
    plan: ArmPlan,
    steps: DecodeSteps,
    clamps: bool,
    prob_bits: int,
) -> float:
    """Decode every step (with all of the ARM's clamps if ``clamps``) under the table of
    precision ``prob_bits``; returns the decoded symbols' information content in bits."""
    table = coder_table(prob_bits)
    n_sym, max_n = table.shape[1], steps.max_n
    x_buf = np.empty((CELLS + 1) * max_n)
    weights = np.concatenate([m.ravel() for m in plan.hidden])
    dims = np.array([CELLS + 1] + [m.shape[0] for m in plan.hidden], dtype=np.int64)
    scratch = np.empty(2 * int(dims.max()) * max_n)
    o_buf = np.empty(N_OUTPUTS * max_n)
    prob_buf = np.empty(n_sym * max_n, dtype=table.dtype)
    storage = steps.grids[0].storage
    bounds = output_bounds(clamps)
    tables = (ROW_WEIGHTS, table, prob_buf)
    arm_step, store_step = kernels
    decode, model, output = decoder.decode, range_model(), plan.output
    tables_per_step = [segment_table(step.segments) for step in steps.steps]
    args = (x_buf, weights, dims, scratch, output, o_buf, bounds, tables)
    costs, info = frequency_costs(prob_bits), np.zeros(1)
    for (copies, n, segments, _), segs in zip(steps.steps, tables_per_step):
        if copies:
            for copy in copies:
                copy()
        if not arm_step(storage, segs, n, *args):
            raise BitstreamError("corrupt latent section (entropy model out of range)")
        try:
            sym = decode(model, prob_buf[: n_sym * n].reshape(n, n_sym))
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        top = store_step(sym, RESIDUAL_VALUE, o_buf, n, storage, segs, prob_buf, costs, info)
        escapes.after_step(sym, segments, top)
    return float(info[0])
