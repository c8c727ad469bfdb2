"""The decoding loop with the C kernels (:mod:`lnic.bitstream.c_kernels`): per step, the ARM
with its context gathering and table rows in one call, the range decoder, the store in another.

The kernels' arguments are bound once per pass as addresses in one :class:`StepParams` (the
arrays behind them live as long as the pass), so a call passes only what changes per step:
the step's segment table (:func:`.compiled_loop.segment_table`, as for numba's kernels) and its
symbols. The buffers the kernels read as vectors start on 32-byte boundaries. Same results as
the numpy loop and :mod:`.compiled_loop`.
"""

from __future__ import annotations

import ctypes

import constriction
import numpy as np

from lnic.bitstream.c_kernels import BLOCK, CKernels, StepParams
from lnic.bitstream.latent_coding.compiled_loop import output_bounds, segment_table
from lnic.bitstream.latent_coding.escapes import EscapeCodes
from lnic.bitstream.latent_coding.plan import N_OUTPUTS, ROW_WEIGHTS, ArmPlan
from lnic.bitstream.latent_coding.steps import DecodeSteps
from lnic.bitstream.latent_coding.symbols import (
    RESIDUAL_VALUE,
    coder_table,
    range_model,
    symbol_costs,
)
from lnic.bitstream.latent_coding.window import CELLS, COLS
from lnic.cbuild import address as _address
from lnic.errors import BitstreamError

_ALIGN = 32
"""Bytes: the kernels' vectors of 4 doubles."""


def _aligned(values: np.ndarray) -> np.ndarray:
    """A float64 copy of ``values`` (flattened) starting on an :data:`_ALIGN` boundary."""
    flat = np.ascontiguousarray(values, dtype=np.float64).ravel()
    buf = np.zeros(flat.size + _ALIGN // 8)
    start = (-_address(buf) % _ALIGN) // 8
    out = buf[start : start + flat.size]
    out[:] = flat
    return out


def c_loop(
    kernels: CKernels,
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
    n_rows, n_sym = table.shape
    max_n = steps.max_n
    # the first layer reads only the window cells it weighs (the context, the centre)
    first = plan.hidden[0] if plan.hidden else plan.output
    cells = np.flatnonzero(np.any(first[:, :CELLS] != 0, axis=0)).astype(np.int64)
    used = np.append(cells, CELLS)
    hidden = [m[:, used] if k == 0 else m for k, m in enumerate(plan.hidden)]
    output = np.ascontiguousarray(plan.output if hidden else plan.output[:, used])
    dims = np.array([len(used)] + [m.shape[0] for m in hidden], dtype=np.int64)
    width = int(max(dims[1:].max(initial=0), N_OUTPUTS))
    x = _aligned(np.zeros(int(dims[0]) * (-(-max_n // BLOCK) * BLOCK)))
    scratch = _aligned(np.zeros(3 * width * BLOCK))
    weights = np.concatenate([m.ravel() for m in hidden] + [np.zeros(0)])
    o_buf = np.empty(N_OUTPUTS * max_n)
    probs = np.empty(n_sym * max_n, dtype=np.float32)
    row_of = np.empty(max_n, dtype=np.int32)
    lo, hi, hidden_max, _ = output_bounds(clamps)
    costs = np.ascontiguousarray(symbol_costs(prob_bits))
    residual = np.ascontiguousarray(RESIDUAL_VALUE, dtype=np.float64)
    row_vec = np.ascontiguousarray(ROW_WEIGHTS, dtype=np.float64)
    info = np.zeros(1)
    params = StepParams(
        x=_address(x),
        weights=_address(weights),
        dims=_address(dims),
        n_dims=len(dims),
        scratch=_address(scratch),
        width=width,
        out_m=_address(output),
        n_outputs=N_OUTPUTS,
        o=_address(o_buf),
        lo=_address(lo),
        hi=_address(hi),
        hidden_max=hidden_max,
        cells=_address(cells),
        cols=COLS,
        row_vec=_address(row_vec),
        table=_address(table),
        n_rows=n_rows,
        n_sym=n_sym,
        probs=_address(probs),
        row_of=_address(row_of),
        residual=_address(residual),
        costs=_address(costs),
        info=_address(info),
    )
    at = ctypes.addressof(params)
    storage = _address(steps.grids[0].storage)
    arm_step, store_step = kernels
    decode, model, after_step = decoder.decode, range_model(), escapes.after_step
    tables = [segment_table(step.segments) for step in steps.steps]
    for (copies, n, segments, _), segs in zip(steps.steps, tables):
        if copies:
            for copy in copies:
                copy()
        segs_at = _address(segs)
        if not arm_step(storage, segs_at, len(segs), n, at):
            raise BitstreamError("corrupt latent section (entropy model out of range)")
        try:
            sym = decode(model, probs[: n_sym * n].reshape(n, n_sym))
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        sym = np.ascontiguousarray(sym, dtype=np.int32)
        top = store_step(_address(sym), storage, segs_at, len(segs), n, at)
        after_step(sym, segments, top)
    return float(info[0])
