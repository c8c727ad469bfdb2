"""The decoding loop with the C kernels (:mod:`lnic.bitstream.c_kernels`): one call per step
(the ARM with its context gathering and table rows, the range decoder, the store).

The kernels' arguments are bound once per pass as addresses in one :class:`StepParams` (the
arrays behind them live as long as the pass), so a call passes only what changes per step:
the step's segment table (:func:`.compiled_loop.segment_table`, as for numba's kernels) and
its symbols' buffer. Same results as the numpy loop and :mod:`.compiled_loop`, which decode
with constriction: :class:`CRangeDecoder` decodes the same symbols from the same words.
"""

from __future__ import annotations

import ctypes

import numpy as np

from lnic.bitstream.c_kernels import BLOCK, CKernels, RangeState, StepParams
from lnic.bitstream.latent_coding.compiled_loop import output_bounds, segment_table
from lnic.bitstream.latent_coding.escapes import EscapeCodes
from lnic.bitstream.latent_coding.plan import N_OUTPUTS, ROW_WEIGHTS, ArmPlan, kernel_layers
from lnic.bitstream.latent_coding.steps import DecodeSteps
from lnic.bitstream.latent_coding.symbols import RESIDUAL_VALUE, coder_cdf, symbol_costs
from lnic.bitstream.latent_coding.window import CELLS, COLS
from lnic.cbuild import address as _address
from lnic.errors import BitstreamError

INVALID_DATA = (
    "Tried to decode from compressed data that is invalid for the employed entropy model."
)
"""What constriction says of words no model could have made, which this decoder says too."""

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


class CRangeDecoder:
    """The C kernels' range decoder over a latent section's words (the state lives in C)."""

    def __init__(self, kernels: CKernels, words: np.ndarray) -> None:
        self.kernels = kernels
        self.words = np.ascontiguousarray(words, dtype=np.uint32)
        self.state = RangeState()
        kernels.range_init(ctypes.byref(self.state), _address(self.words), len(self.words))

    def maybe_exhausted(self) -> bool:
        """Whether the section may hold nothing more (constriction's test of the same name)."""
        return bool(self.kernels.range_exhausted(ctypes.byref(self.state)))


def c_loop(
    kernels: CKernels,
    decoder: CRangeDecoder,
    escapes: EscapeCodes,
    plan: ArmPlan,
    steps: DecodeSteps,
    clamps: bool,
    prob_bits: int,
) -> float:
    """Decode every step (with all of the ARM's clamps if ``clamps``) under the table of
    precision ``prob_bits``; returns the decoded symbols' information content in bits."""
    cdf = coder_cdf(prob_bits)
    n_rows, n_sym = cdf.shape[0], cdf.shape[1] - 1
    max_n = steps.max_n
    # the first layer reads only the window cells it weighs (the context, the centre)
    first = plan.hidden[0] if plan.hidden else plan.output
    cells = np.flatnonzero(np.any(first[:, :CELLS] != 0, axis=0)).astype(np.int64)
    weights, dims, output, width = kernel_layers(plan.reading(np.append(cells, CELLS)))
    x = _aligned(np.zeros(int(dims[0]) * (-(-max_n // BLOCK) * BLOCK)))
    scratch = _aligned(np.zeros(3 * width * BLOCK))
    o_buf = np.empty(N_OUTPUTS * max_n)
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
        cdf=_address(cdf),
        n_rows=n_rows,
        n_sym=n_sym,
        row_of=_address(row_of),
        residual=_address(residual),
        costs=_address(costs),
        info=_address(info),
    )
    at, state = ctypes.addressof(params), ctypes.addressof(decoder.state)
    storage = _address(steps.grids[0].storage)
    step, after_step, empty, int32 = kernels.step, escapes.after_step, np.empty, np.int32
    tables = [segment_table(step_.segments) for step_ in steps.steps]
    for (copies, n, segments, _), segs in zip(steps.steps, tables):
        if copies:
            for copy in copies:
                copy()
        sym = empty(n, dtype=int32)  # (a new array: the escape codes may keep it)
        top = step(storage, _address(segs), len(segs), n, at, state, _address(sym))
        if top < 0:
            raise BitstreamError(
                "corrupt latent section (entropy model out of range)"
                if top == -1
                else f"corrupt latent section ({INVALID_DATA})"
            )
        after_step(sym, segments, top)
    return float(info[0])
