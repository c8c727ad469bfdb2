"""The decoder's fixed-point upsampling: the same integers as
:func:`lnic.model.upsampling.upsample_integer`, organised for speed and memory.

Values are integers held in float64 (every product and partial sum stays far below ``2^53``,
so any summation order gives the same integers, whatever the BLAS or its thread count):

* every ``floor((acc + 2^(e-1)) / 2^e)`` is ``floor(acc * 2^-e + 1/2)`` with the power-of-two
  scale folded into the taps;
* the pre-filter is a sum of shifted slices of an edge-padded grid, band by band of rows;
* the x2 steps apply each axis block by block, as products with one small polyphase block
  matrix per axis (the same for every block: memory and work are linear in the number of
  samples whatever the aspect ratio);
* the row pass of the last x2 step is made on demand (:meth:`FixedPointUpsampler.rows`), so the
  synthesis consumes it while it is in cache and the [levels, H, W] stack is never stored whole.

Rounding after a product is ``floor(x)`` (the ``+ 1/2`` folded in), and the clamp to +-2^24,
which costs twice a floor in numpy, is skipped wherever a bound computed from the taps and the
decoded latents shows that it cannot change anything.
"""

from __future__ import annotations

import numpy as np

from lnic.cbuild import address as _address
from lnic.decoder import c_kernels
from lnic.decoder.profiler import NO_PROFILER, NullProfiler, Profiler
from lnic.format import SYNTH_ACT_CLAMP, SYNTH_FRAC_BITS
from lnic.model.parts import UpsamplingWeights
from lnic.model.quantized import clip_ufunc
from lnic.model.upsampling import PREFILTER_RADIUS, polyphase_taps

as_strided = np.lib.stride_tricks.as_strided

UP_HALF = 16
"""Input samples per block of the column pass (2 * UP_HALF output columns per block)."""

UP_CHUNK = 32
"""Rows per chunk of the column pass (its blocks stay in cache)."""

UP_BLOCK = 16
"""Output rows per banded-matrix product of the row pass."""


PREFILTER_BAND_PIXELS = 32768
"""About this many samples per band of rows of the pre-filter (its buffers stay in cache)."""


def _symmetric_sum(
    src: np.ndarray,
    start: int,
    stop: int,
    axis: int,
    taps: list[float],
    out: np.ndarray,
    pair: np.ndarray,
) -> None:
    """``out[m] = c0 s[m] + sum_j c_j (s[m - j] + s[m + j])`` for ``m`` in ``start .. stop - 1``
    along ``axis`` of ``src`` (which holds the replicated border samples)."""

    def shifted(j: int) -> np.ndarray:
        return src[start + j : stop + j] if axis == 0 else src[:, start + j : stop + j]

    np.multiply(shifted(0), taps[0], out=out)
    for j in range(1, len(taps)):
        np.add(shifted(-j), shifted(j), out=pair)
        pair *= taps[j]
        out += pair


def _round_and_clamp(x: np.ndarray) -> None:
    clamp = float(SYNTH_ACT_CLAMP)
    x += 0.5
    np.floor(x, out=x)
    clip_ufunc(x, -clamp, clamp, out=x)


def prefilter(grids: list[np.ndarray], pre: np.ndarray, e: int) -> list[np.ndarray]:
    """Exact integer pre-filter (same result as ``prefilter_integer``): every grid in fixed point
    (``SYNTH_FRAC_BITS`` fractional bits), as float64 integers.

    Each axis is a sum of shifted slices of an edge-padded array, computed on bands of rows
    (the temporaries stay in cache and are reused, not allocated per grid). The first pass
    folds the fixed-point scale into the taps (``g 2^12 c = g (c 2^12)``, both exact).
    """
    native = c_kernels.load()
    if native is not None:
        return _prefilter_native(native, grids, pre, e)
    r = PREFILTER_RADIUS
    # the first pass of a grid, with r replicated rows above and below (shared by the grids)
    columns_done = np.empty(max((h + 2 * r) * w for h, w in (g.shape for g in grids)))
    out = []
    for g, t in zip(grids, pre):
        h, w = g.shape
        taps = [float(v) * 2.0**-e for v in t]
        band = max(1, PREFILTER_BAND_PIXELS // w)
        padded = np.empty((band, w + 2 * r))
        pair = np.empty((band, w))
        cols = columns_done[: (h + 2 * r) * w].reshape(h + 2 * r, w)
        first = [c * 2.0**SYNTH_FRAC_BITS for c in taps]
        for r0 in range(0, h, band):  # along each row, borders replicated
            n = min(h, r0 + band) - r0
            p = padded[:n]
            p[:, r : r + w] = g[r0 : r0 + n]
            p[:, :r] = p[:, r : r + 1]
            p[:, r + w :] = p[:, r + w - 1 : r + w]
            dst = cols[r + r0 : r + r0 + n]
            _symmetric_sum(p, r, r + w, 1, first, dst, pair[:n])
            _round_and_clamp(dst)
        cols[:r] = cols[r]
        cols[r + h :] = cols[r + h - 1]
        x = np.empty((h, w))
        for r0 in range(0, h, band):  # along each column
            n = min(h, r0 + band) - r0
            _symmetric_sum(cols, r + r0, r + r0 + n, 0, taps, x[r0 : r0 + n], pair[:n])
            _round_and_clamp(x[r0 : r0 + n])
        out.append(x)
    return out


def _prefilter_native(
    native: c_kernels.PixelKernels, grids: list[np.ndarray], pre: np.ndarray, e: int
) -> list[np.ndarray]:
    """:func:`prefilter` with the C kernels: along the rows into a scratch grid, then along the
    columns, each axis rounded and clamped."""
    clamp = float(SYNTH_ACT_CLAMP)
    scratch = np.empty(max(g.size for g in grids))
    out = []
    for g, t in zip(grids, pre):
        h, w = g.shape
        g = np.ascontiguousarray(g, dtype=np.float64)
        taps = np.ascontiguousarray(t, dtype=np.float64)
        assert len(taps) == PREFILTER_RADIUS + 1
        x, tmp = np.empty((h, w)), scratch[: h * w]
        first, second = 2.0 ** (SYNTH_FRAC_BITS - e), 2.0**-e
        native.prefilter_axis(_address(g), h, w, 1, _address(taps), PREFILTER_RADIUS, first,
                              _address(tmp), clamp)  # fmt: skip
        native.prefilter_axis(_address(tmp), h, w, 0, _address(taps), PREFILTER_RADIUS, second,
                              _address(x), clamp)  # fmt: skip
        out.append(x)
    return out


def _row_block_matrix(taps: np.ndarray) -> np.ndarray:
    """[UP_BLOCK + 1, UP_BLOCK // 2 + 5]: output row ``2 i + p`` of a block reads input rows
    ``i .. i + 4`` (``x[m - 2] .. x[m + 2]`` for ``m = i``) with the weights of phase ``p``.

    A block starting at an odd output row uses the rows from 1 on (its first row is odd).
    """
    u = np.zeros((UP_BLOCK + 1, UP_BLOCK // 2 + 5))
    for phase, weights in enumerate(polyphase_taps([float(v) for v in taps])):
        for i in range((UP_BLOCK + 1 - phase + 1) // 2):
            u[2 * i + phase, i : i + 5] = weights
    return u


def _column_block_matrix(taps: np.ndarray) -> np.ndarray:
    """[UP_HALF + 5, 2 UP_HALF]: the 2 UP_HALF outputs of a block from its UP_HALF + 4 inputs
    (``x[m - 2] .. x[m + UP_HALF + 1]``, replicated beyond the borders) and a constant one (the
    rounding ``+ 1/2``)."""
    u = np.zeros((UP_HALF + 5, 2 * UP_HALF))
    for phase, weights in enumerate(polyphase_taps([float(v) for v in taps])):
        for i in range(UP_HALF):  # output 2i + phase reads inputs i .. i + 4 (x[m-2] .. x[m+2])
            u[i : i + 5, 2 * i + phase] += weights
    u[-1] = 0.5
    return u


def _up_columns(x: np.ndarray, w: int, taps: np.ndarray, clamp: float | None) -> np.ndarray:
    """Column pass ``[R, wc] -> [R, >= w]`` (floor'd, clamped if ``clamp``; extra columns junk).

    Each block of 2 UP_HALF output columns is one row of a ``[R * blocks, UP_HALF + 5]`` matrix
    (its inputs, copied from a border-replicated row, and a one) times the block matrix; the
    result is the output, already in place.
    """
    rows, wc = x.shape
    nb = -(-w // (2 * UP_HALF))
    out = np.empty((rows, nb * 2 * UP_HALF))
    native = c_kernels.load()
    if native is not None and x.strides[1] == 8:
        phases = np.array(polyphase_taps([float(v) for v in taps]))
        native.up_columns(_address(x), rows, wc, x.strides[0] // 8, _address(phases), w,
                          _address(out), out.strides[0] // 8,
                          np.inf if clamp is None else clamp)  # fmt: skip
        return out
    bm = _column_block_matrix(taps)
    chunk = min(rows, UP_CHUNK)
    padded = np.empty((chunk, UP_HALF * nb + 4))
    blocks = np.empty((chunk, nb, UP_HALF + 5))
    blocks[:, :, -1] = 1.0
    s = padded.strides[1]
    for r0 in range(0, rows, chunk):
        n = min(rows, r0 + chunk) - r0
        p = padded[:n]
        p[:, 2 : 2 + wc] = x[r0 : r0 + n]
        p[:, :2] = p[:, 2:3]
        p[:, 2 + wc :] = p[:, 1 + wc : 2 + wc]
        b = blocks[:n]
        np.copyto(b[:, :, :-1], as_strided(p, (n, nb, UP_HALF + 4), (p.strides[0], UP_HALF * s, s)))
        o = out[r0 : r0 + n]
        np.matmul(b.reshape(n * nb, UP_HALF + 5), bm, out=o.reshape(n * nb, 2 * UP_HALF))
        np.floor(o, out=o)
        if clamp is not None:
            clip_ufunc(o, -clamp, clamp, out=o)
    return out


class FixedPointUpsampler:
    """The exact integer upsampling of a latent pyramid, all of it but the row pass of the last
    x2 step, which :meth:`rows` produces block by block on demand.

    The grids are pre-filtered first (:func:`prefilter`); :attr:`bound` is a bound on the
    magnitude of every output channel, which lets the synthesis skip clamps that cannot bite.
    """

    def __init__(
        self,
        grids: list[np.ndarray],
        weights: UpsamplingWeights,
        profiler: Profiler | NullProfiler = NO_PROFILER,
    ) -> None:
        self.profiler = profiler
        self.clamp = clamp = float(SYNTH_ACT_CLAMP)
        e = weights.up.e_w
        self.grids = grids = prefilter(grids, weights.pre.weight, e)  # fixed point from here on
        bound = max(float(max(g.max(initial=0), -g.min(initial=0))) for g in grids)
        x_bound = bound  # bound on every channel so far
        x = grids[-1][None]
        self.xc = None
        for k in range(len(grids) - 2, -1, -1):
            t = np.asarray(weights.up.weight[k], dtype=np.float64) * 2.0**-e
            gain = float(np.abs(t).sum())  # each output sample uses each tap once
            ch, (hc, wc), (h, w) = x.shape[0], x.shape[1:], grids[k].shape
            # columns: [ch * hc, wc] -> [ch * hc, w (+ junk)]
            x_bound = min(clamp, gain * x_bound + 0.5)
            clamp_cols = clamp if x_bound >= clamp else None
            xc = _up_columns(x.reshape(ch * hc, wc), w, t, clamp_cols)
            xc = xc.reshape(ch, hc, xc.shape[1])[:, :, :w]
            # rows: [ch, hc, w] -> [ch, h, w] block by block, written behind the finer grid
            x_bound = min(clamp, gain * x_bound + 0.5)
            u = _row_block_matrix(t), np.array(polyphase_taps([float(v) for v in t]))
            if k == 0:  # the last x2 step: rows on demand
                self.xc, self.u, self.clamp_rows = xc, u, x_bound >= clamp
            else:
                x = np.empty((ch + 1, h, w))
                x[0] = grids[k]
                self._rows(u, xc, 0, h, x[1:], x_bound >= clamp)
            x_bound = max(x_bound, bound)
        self.bound = x_bound

    @property
    def levels(self) -> int:
        return len(self.grids)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the output channels."""
        return self.grids[0].shape

    def _rows(
        self,
        u: tuple[np.ndarray, np.ndarray],
        xc: np.ndarray,
        r0: int,
        r1: int,
        out: np.ndarray,
        clamp: bool,
    ) -> None:
        """Rows r0 .. r1 - 1 of the row pass of ``xc`` [ch, hc, w] (rounded, clamped) into
        ``out``: with the C kernels, from the step's two phases of taps (``u[1]``); else block
        by block with the block matrix ``u[0]`` (:func:`_row_block_matrix`).

        Output row ``o`` reads input rows ``o // 2 - 2 .. o // 2 + 2``, replicated beyond the
        borders: interior blocks read a view of ``xc``, the blocks at its edges a small copy.
        """
        ch, hc, w = xc.shape
        native = c_kernels.load()
        if native is not None and xc.strides[2] == 8 and out.strides[2] == 8:
            native.up_rows(
                _address(xc), ch, hc, w, xc.strides[0] // 8,
                xc.strides[1] // 8, _address(u[1]), r0, r1,
                _address(out), out.strides[0] // 8, out.strides[1] // 8,
                self.clamp if clamp else np.inf,
            )  # fmt: skip
            return
        u = u[0]
        for o0 in range(r0, r1, UP_BLOCK):
            n = min(r1, o0 + UP_BLOCK) - o0
            phase = o0 % 2
            ni = (phase + n + 1) // 2 + 4  # input rows the block reads
            i0 = o0 // 2 - 2
            if 0 <= i0 and i0 + ni <= hc:
                src = xc[:, i0 : i0 + ni]
            else:
                src = xc[:, np.clip(np.arange(i0, i0 + ni), 0, hc - 1)]
            blk = out[:, o0 - r0 : o0 - r0 + n]
            np.matmul(u[phase : phase + n, :ni], src, out=blk)
            blk += 0.5
            np.floor(blk, out=blk)
            if clamp:
                clip_ufunc(blk, -self.clamp, self.clamp, out=blk)

    def rows(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Rows r0 .. r1 - 1 of every channel (the finest grid first) into ``out`` [levels,
        r1 - r0, W]."""
        with self.profiler.stage("upsampling"):
            out[0] = self.grids[0][r0:r1]
            if self.xc is not None:
                self._rows(self.u, self.xc, r0, r1, out[1:], self.clamp_rows)
