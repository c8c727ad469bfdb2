"""The decoding loop in numpy calls: what decodes a single image (it needs no numba start,
:mod:`.loop_choice`), with the same results as the compiled loop, :mod:`.compiled_loop`.

A step costs about 18 numpy calls, whose fixed cost is most of the time: the loop binds what it
calls to locals, reuses one set of views per step size and writes every result in place.
"""

from __future__ import annotations

from typing import NamedTuple

import constriction
import numpy as np

from lnic.bitstream.latent_coding.escapes import EscapeCodes
from lnic.bitstream.latent_coding.plan import N_OUTPUTS, OUT_HI, OUT_LO, ROW_WEIGHTS, ArmPlan
from lnic.bitstream.latent_coding.steps import DecodeSteps, Segment
from lnic.bitstream.latent_coding.symbols import (
    RESIDUAL_VALUE,
    coder_table,
    range_model,
    symbol_costs,
)
from lnic.bitstream.latent_coding.window import CELLS, COLS, ROWS
from lnic.errors import BitstreamError
from lnic.format import ARM_ACT_CLAMP

_clip = np._core.umath.clip if hasattr(np, "_core") else np.core.umath.clip  # the bare ufunc


class _Views(NamedTuple):
    """The buffers of a step of ``n`` latents."""

    x: np.ndarray
    """[window cells + 1, n]: the ARM's input (last row: ones)."""
    window: np.ndarray
    """[ROWS, COLS, n]: the same without the ones."""
    hidden: list[np.ndarray]
    """[width, n] per hidden layer."""
    out: np.ndarray
    """[N_OUTPUTS, n]: mu_q, m_int, scale_idx."""
    m_int: np.ndarray
    scale: np.ndarray


class _Buffers:
    """One allocation for the largest step, views cut per step size on first use."""

    def __init__(self, plan: ArmPlan, max_n: int) -> None:
        self.ctx = np.empty((CELLS + 1, max_n))
        self.ctx[-1] = 1.0
        self.ctx_window = self.ctx[:-1].reshape(ROWS, COLS, max_n)
        self.widths = [m.shape[0] for m in plan.hidden]
        self.scratch = [np.empty(width * max_n) for width in self.widths]
        self.out = np.empty(N_OUTPUTS * max_n)
        self.views: dict[int, _Views] = {}

    def get(self, n: int) -> _Views:
        views = self.views.get(n)
        if views is None:
            hidden = [sc[: w * n].reshape(w, n) for sc, w in zip(self.scratch, self.widths)]
            o = self.out[: N_OUTPUTS * n].reshape(N_OUTPUTS, n)
            views = _Views(self.ctx[:, :n], self.ctx_window[:, :, :n], hidden, o, o[1], o[2])
            self.views[n] = views
        return views


class _Arm:
    """The folded ARM on a step's views: without the clamps (ReLU, scale_idx clipped), unrolled
    for the usual two hidden layers, or with every clamp."""

    def __init__(self, plan: ArmPlan, clamps: bool) -> None:
        self.hidden, self.output = plan.hidden, plan.output
        self.clamp = float(ARM_ACT_CLAMP)
        self.lo, self.hi = OUT_LO[:, None], OUT_HI[:, None]
        self.scale_lo, self.scale_hi = OUT_LO[-1], OUT_HI[-1]
        if clamps:
            self.run = self._clamped
        elif len(plan.hidden) == 2:
            self.run = self._relu_two
        else:
            self.run = self._relu

    def _relu_two(self, v: _Views) -> None:
        dot, floor, maximum = np.dot, np.floor, np.maximum
        h1, h2 = v.hidden
        dot(self.hidden[0], v.x, out=h1)
        floor(h1, out=h1)
        maximum(h1, 0.0, out=h1)
        dot(self.hidden[1], h1, out=h2)
        floor(h2, out=h2)
        maximum(h2, 0.0, out=h2)
        self._output(h2, v)
        _clip(v.scale, self.scale_lo, self.scale_hi, out=v.scale)

    def _relu(self, v: _Views) -> None:
        x = v.x
        for m, h in zip(self.hidden, v.hidden):
            np.dot(m, x, out=h)
            np.floor(h, out=h)
            np.maximum(h, 0.0, out=h)
            x = h
        self._output(x, v)
        _clip(v.scale, self.scale_lo, self.scale_hi, out=v.scale)

    def _clamped(self, v: _Views) -> None:
        x = v.x
        for m, h in zip(self.hidden, v.hidden):
            np.dot(m, x, out=h)
            np.floor(h, out=h)
            _clip(h, 0.0, self.clamp, out=h)
            x = h
        self._output(x, v)
        _clip(v.out, self.lo, self.hi, out=v.out)

    def _output(self, h: np.ndarray, v: _Views) -> None:
        np.dot(self.output, h, out=v.out)
        np.floor(v.out, out=v.out)


def _gather(v: _Views, segments: list[Segment]) -> None:
    """The context windows of a step of several segments."""
    for g, _, anchor, _, m, off in segments:
        np.copyto(v.window[:, :, off : off + m], g.windows[anchor, :, :, :m])


def _store(r: np.ndarray, m_int: np.ndarray, segments: list[Segment]) -> None:
    """The decoded latents ``r + m_int`` of a step of several segments."""
    for g, _, _, cell, m, off in segments:
        np.add(r[off : off + m], m_int[off : off + m], out=g.front(cell, m))


def numpy_loop(
    decoder: constriction.stream.queue.RangeDecoder,
    escapes: EscapeCodes,
    plan: ArmPlan,
    steps: DecodeSteps,
    clamps: bool,
    prob_bits: int,
) -> float:
    """Decode every step (with all of the ARM's clamps if ``clamps``) under the table of
    precision ``prob_bits``; returns the decoded symbols' information content in bits."""
    buffers, arm = _Buffers(plan, steps.max_n), _Arm(plan, clamps).run
    decode, model = decoder.decode, range_model()
    table = coder_table(prob_bits)
    take_rows, take_residual = table.take, RESIDUAL_VALUE.take  # (np.take: a wrapper)
    dot, copyto, add, intp, row_weights = np.dot, np.copyto, np.add, np.intp, ROW_WEIGHTS
    after_step = escapes.after_step
    take_cost, n_sym, info = symbol_costs(prob_bits).take, table.shape[1], 0.0
    for copies, n, segments, single in steps.steps:
        if copies:
            for copy in copies:
                copy()
        v = buffers.get(n)
        if single:
            seg = segments[0]
            copyto(v.window, seg.grid.windows[seg.anchor, :, :, :n])
        else:
            _gather(v, segments)
        arm(v)
        rows = dot(row_weights, v.out).astype(intp)
        try:
            sym = decode(model, take_rows(rows, 0))
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        rows *= n_sym
        rows += sym
        info += take_cost(rows).sum()
        r = take_residual(sym)
        if single:
            add(r, v.m_int, out=seg.grid.front(seg.cell, n))
        else:
            _store(r, v.m_int, segments)
        after_step(sym, segments)
    return float(info)
