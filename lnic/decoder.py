"""The decoder: bitstream -> image, in exact integer arithmetic end to end.

Parsing (integer ARM + fixed table + range decoder) and reconstruction (upsampling + synthesis
in fixed point) are both exact, so a file decodes to the same pixels on every machine and any
number of threads.

Reconstruction is the integer computation of ``lnic.model.upsampling.upsample_integer`` and
``lnic.model.synthesis.synthesis_integer`` (the reference), reorganised for speed and memory:

* every ``floor((acc + 2^(e-1)) / 2^e)`` is computed as ``floor(acc * 2^-e + 1/2)`` with the
  power-of-two scale folded into the weights and the biases carried by a constant-one input
  (exact: scaling by a power of two commutes with float64 rounding, and every value is an
  integer multiple of ``2^-e`` far below ``2^53``);
* the pre-filter runs as ``scipy.ndimage.correlate1d`` on integers held in float64 (exact: every
  product and partial sum is an integer below ``2^53``, so the summation order cannot matter);
* the upsampling applies each axis as products with banded matrices, block by block;
* the synthesis runs on bands of rows, so memory stays proportional to the image (no 40-channel
  full-size intermediate): the 1x1 layers per block of pixels, the two 3x3 convolutions per band
  of rows with a halo of two rows (recomputed, not stored).

All values are integers (or integers + 1/2 before a floor) held in float64; matrix products
of them are exact whatever the BLAS, its summation order or its thread count.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from lnic.bitstream.container import Sections, unpack_file
from lnic.bitstream.latent_coding import decode_latents
from lnic.bitstream.weights import decode_weights
from lnic.errors import BitstreamError, LnicError
from lnic.format import (
    ARM_ACT_FRAC_BITS,
    ARM_WEIGHT_CLAMP,
    SYNTH_ACT_CLAMP,
    SYNTH_FRAC_BITS,
    WEIGHT_STEP_EXP_MAX,
    WEIGHT_STEP_EXP_MIN,
)
from lnic.model.latents import grid_shapes
from lnic.model.parts import DecoderWeights, SynthesisWeights
from lnic.model.quantized import QuantizedLinear
from lnic.model.upsampling import PREFILTER_RADIUS, polyphase_taps

log = logging.getLogger(__name__)

_clip = np._core.umath.clip if hasattr(np, "_core") else np.core.umath.clip  # the bare ufunc
as_strided = np.lib.stride_tricks.as_strided

BLOCK_PIXELS = 2048
"""Pixels per block of the 1x1 synthesis layers (the hidden activations stay in cache)."""

BAND_PIXELS = 8192
"""About this many pixels per band of rows of the 3x3 convolutions."""


def validate_modules(weights: DecoderWeights) -> None:
    """Refuse weights outside the ranges the encoder can write (docs/format.md).

    These ranges keep every accumulator of the integer decoder far below ``2^53``, which is what
    makes the float64 arithmetic exact; a crafted file outside them is refused rather than
    decoded inexactly.
    """
    fracs = (ARM_ACT_FRAC_BITS, None, SYNTH_FRAC_BITS)
    for name, layers, frac in zip(
        ("ARM", "upsampling", "synthesis"), weights.modules().values(), fracs
    ):
        e_w, e_b = layers[0].e_w, layers[0].e_b
        if not WEIGHT_STEP_EXP_MIN <= e_w <= WEIGHT_STEP_EXP_MAX:
            raise BitstreamError(f"{name} weight step 2^-{e_w} outside the format's range")
        if frac is not None and not 0 <= e_b <= frac + e_w:
            raise BitstreamError(f"{name} bias step 2^-{e_b} outside the format's range")
        for layer in layers:
            for v in (layer.weight, layer.bias):
                if v.size and np.abs(v).max() > ARM_WEIGHT_CLAMP:
                    raise BitstreamError(f"{name} weight out of range (corrupt bitstream)")


# --- Upsampling ---------------------------------------------------------------------------------
#
# Rounding after a product is ``floor(x)`` (the ``+ 1/2`` folded in) and the clamp to +-2^24,
# which costs twice a floor in numpy, is skipped wherever a bound computed from the weights and
# the decoded latents shows that it cannot change anything.

UP_HALF = 16
"""Input samples per block of the column pass (2 * UP_HALF output columns per block)."""

UP_CHUNK = 32
"""Rows per chunk of the column pass (its blocks stay in cache)."""

UP_BLOCK = 16
"""Output rows per banded-matrix product of the row pass."""


def _up_matrix(n: int, size: int, taps: np.ndarray) -> np.ndarray:
    """[size, n] matrix of the x2 polyphase filter with replicated borders (taps pre-scaled)."""
    u = np.zeros((size, n))
    m = np.arange(n)
    for phase, weights in enumerate(polyphase_taps([float(v) for v in taps])):
        out = 2 * m + phase
        keep = out < size
        for offset, tap in zip(range(-2, 3), weights):
            np.add.at(u, (out[keep], np.clip(m[keep] + offset, 0, n - 1)), tap)
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
    bm = _column_block_matrix(taps)
    out = np.empty((rows, nb * 2 * UP_HALF))
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
            _clip(o, -clamp, clamp, out=o)
    return out


def prefilter(grids: list[np.ndarray], pre: np.ndarray, e: int) -> list[np.ndarray]:
    """Exact integer pre-filter (same result as ``prefilter_integer``): every grid in fixed point
    (``SYNTH_FRAC_BITS`` fractional bits), as float64 integers."""
    from scipy.ndimage import correlate1d

    clamp = float(SYNTH_ACT_CLAMP)
    out = []
    for g, t in zip(grids, pre):
        taps = [float(v) for v in t]
        kernel = np.array(taps[:0:-1] + taps) * 2.0**-e
        assert len(kernel) == 2 * PREFILTER_RADIUS + 1
        x = g.astype(np.float64) * 2.0**SYNTH_FRAC_BITS
        for axis in (1, 0):
            x = correlate1d(x, kernel, axis=axis, mode="nearest")
            x += 0.5
            np.floor(x, out=x)
            _clip(x, -clamp, clamp, out=x)
        out.append(x)
    return out


class _Upsampler:
    """The exact integer upsampling of a latent pyramid (``upsample_integer``), all of it but the
    row pass of the last transition, which :meth:`rows` produces block by block on demand: the
    synthesis consumes it while it is in cache, and the [levels + 1, H, W] stack is never
    stored whole.

    The grids are pre-filtered first (:func:`prefilter`); :attr:`bound` is a bound on the
    magnitude of every output channel.
    """

    def __init__(self, grids: list[np.ndarray], taps: np.ndarray, pre: np.ndarray, e: int) -> None:
        levels = len(grids)
        clamp = float(SYNTH_ACT_CLAMP)
        grids = prefilter(grids, pre, e)  # in fixed point from here on
        bound = max(float(max(g.max(initial=0), -g.min(initial=0))) for g in grids)
        self.grids, self.clamp = grids, clamp
        x_bound = bound  # bound on every channel so far
        x = grids[-1][None]
        self.xc = None
        for k in range(levels - 2, -1, -1):
            t = np.asarray(taps[k], dtype=np.float64) * 2.0**-e
            gain = float(np.abs(t).sum())  # each output sample uses each tap once
            ch, (hc, wc), (h, w) = x.shape[0], x.shape[1:], grids[k].shape
            # columns: [ch * hc, wc] -> [ch * hc, w (+ junk)]
            x_bound = min(clamp, gain * x_bound + 0.5)
            clamp_cols = clamp if x_bound >= clamp else None
            xc = _up_columns(x.reshape(ch * hc, wc), w, t, clamp_cols)
            xc = xc.reshape(ch, hc, xc.shape[1])[:, :, :w]
            # rows: U @ [ch, hc, w] -> [ch, h, w], written behind the finer grid
            x_bound = min(clamp, gain * x_bound + 0.5)
            u = _up_matrix(hc, h, t)
            if k == 0:  # the last transition: rows on demand
                self.xc, self.u, self.clamp_rows = xc, u, x_bound >= clamp
            else:
                x = np.empty((ch + 1, h, w))
                x[0] = grids[k]
                self._rows(u, xc, 0, h, x[1:], x_bound >= clamp)
            x_bound = max(x_bound, bound)
        self.bound = x_bound
        self.seconds = [0.0, 0.0]  # (wall, CPU) spent in rows()

    def _rows(
        self, u: np.ndarray, xc: np.ndarray, r0: int, r1: int, out: np.ndarray, clamp: bool
    ) -> None:
        """Rows r0 .. r1 - 1 of the row pass ``U @ xc`` (rounded, clamped) into ``out``."""
        hc = xc.shape[1]
        for o0 in range(r0, r1, UP_BLOCK):
            o1 = min(r1, o0 + UP_BLOCK)
            i0, i1 = max(0, o0 // 2 - 2), min(hc, (o1 - 1) // 2 + 3)
            blk = out[:, o0 - r0 : o1 - r0]
            np.matmul(u[o0:o1, i0:i1], xc[:, i0:i1], out=blk)
            blk += 0.5
            np.floor(blk, out=blk)
            if clamp:
                _clip(blk, -self.clamp, self.clamp, out=blk)

    def rows(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Rows r0 .. r1 - 1 of every channel (the finest grid first) into ``out`` [levels,
        r1 - r0, W]."""
        w0, c0 = _clock()
        out[0] = self.grids[0][r0:r1]
        if self.xc is not None:
            self._rows(self.u, self.xc, r0, r1, out[1:], self.clamp_rows)
        w1, c1 = _clock()
        self.seconds[0] += w1 - w0
        self.seconds[1] += c1 - c0


def upsample(
    grids: list[np.ndarray],
    taps: np.ndarray,
    pre: np.ndarray,
    e: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Exact integer upsampling (same result as ``upsample_integer``) into ``out[:levels]``.

    ``out`` is a float64 array [>= levels, H, W] (allocated if None); returns it.
    """
    h0 = grids[0].shape[0]
    if out is None:
        out = np.empty((len(grids),) + grids[0].shape)
    _Upsampler(grids, taps, pre, e).rows(0, h0, out[: len(grids)])
    return out


# --- Synthesis ----------------------------------------------------------------------------------


def _folded(layer: QuantizedLinear, frac: int, one_out: bool, rows: int = 0) -> np.ndarray:
    """[out (+1), in + 1] matrix computing ``(x . W + b') / 2^e + 1/2`` from ``[x, 1]``.

    With ``one_out`` an extra output row passes the constant one on to the next layer; ``rows``
    pads the output with zero rows up to that many (BLAS is faster on some shapes).
    """
    w = np.asarray(layer.weight, dtype=np.float64)
    b = np.asarray(layer.bias, dtype=np.float64)
    m = np.zeros((max(w.shape[0] + one_out, rows), w.shape[1] + 1))
    m[: w.shape[0], :-1] = w * 2.0**-layer.e_w
    m[: w.shape[0], -1] = b * 2.0 ** (frac - layer.e_b) + 0.5
    if one_out:
        m[w.shape[0], -1] = 1.0
    return m


def _layer_bound(m: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Bound on ``|m @ [x, 1]|`` (before the floor) for ``|x| <= inputs`` (per input)."""
    return np.abs(m[:, :-1]) @ inputs + np.abs(m[:, -1]) + 1.0


def _pointwise(
    z: np.ndarray,
    lin1: np.ndarray,
    lin2: np.ndarray,
    y: np.ndarray,
    clamp_out: bool,
    clamp_hidden: bool = True,
) -> None:
    """The two 1x1 layers: z [levels + 1, H * W] (last row ones) -> y [C, H, W] (any strides).

    Blocks of whole rows (about BLOCK_PIXELS pixels) keep the hidden layer in cache.
    """
    c, height, width = y.shape
    clamp = float(SYNTH_ACT_CLAMP)
    rows = max(1, BLOCK_PIXELS // width)
    hidden = np.empty((lin1.shape[0], rows * width))
    out = np.empty((lin2.shape[0], rows * width))
    for r0 in range(0, height, rows):
        n = min(height, r0 + rows) - r0
        hb = hidden[:, : n * width]
        np.matmul(lin1, z[:, r0 * width : (r0 + n) * width], out=hb)
        np.floor(hb, out=hb)
        if clamp_hidden:
            _clip(hb, 0.0, clamp, out=hb)
        else:
            np.maximum(hb, 0.0, out=hb)  # the ReLU alone: cheaper than a two-sided clip
        ob = out[:, : n * width]
        np.matmul(lin2, hb, out=ob)
        yb = y[:, r0 : r0 + n]
        np.floor(ob[:c].reshape(c, n, width), out=yb)
        if clamp_out:
            _clip(yb, -clamp, clamp, out=yb)


def _replicate_edges(v: np.ndarray, top: bool, bottom: bool) -> None:
    """Fill the border of ``v`` [C, rows, W + 2] by replication: columns 0 and W + 1, and the
    first / last row if asked."""
    if top:
        v[:, 0, 1:-1] = v[:, 1, 1:-1]
    if bottom:
        v[:, -1, 1:-1] = v[:, -2, 1:-1]
    v[:, :, 0] = v[:, :, 1]
    v[:, :, -1] = v[:, :, -2]


class _Conv3x3:
    """A folded 3x3 convolution on bands of rows held with a one-pixel replicated border.

    The input is a [C, rows + 2, W + 2] array (any plane stride, rows contiguous): its flat
    rows make the im2col matrix one strided copy (row ``(c, dy, dx)`` is the input shifted by
    ``dy (W + 2) + dx``). The output keeps the same row layout: [C, rows, W + 2] whose columns
    1..W are the result and columns 0 and W + 1 junk.
    """

    def __init__(self, m: np.ndarray, channels: int, width: int, max_rows: int, clamp: bool):
        self.m, self.c, self.wp = m, channels, width + 2
        self.clamp = clamp
        self.cols = np.empty((channels * 9 + 1, max_rows * self.wp))
        self.cols[-1] = 1.0

    def __call__(
        self, flat: np.ndarray, plane: int, start: int, n: int, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Rows 1..n of the convolution of the input whose element (c, 0, 0) is
        ``flat[c * plane + start]`` (floor'd, clamped)."""
        c, wp, ln = self.c, self.wp, n * self.wp
        s = flat.strides[0]
        # output column j of a row is centred on input column j, so its window starts one
        # element earlier (for j = 0 a junk element: start >= 1); the last window of a plane
        # reaches one element past its rows (junk, inside the array)
        win = as_strided(flat[start - 1 :], (c, 3, 3, ln), (plane * s, wp * s, s, s))
        np.copyto(self.cols[: c * 9, :ln].reshape(c, 3, 3, ln), win)
        o = np.matmul(self.m, self.cols[:, :ln], out=out)
        np.floor(o, out=o)
        if self.clamp:
            _clip(o, -float(SYNTH_ACT_CLAMP), float(SYNTH_ACT_CLAMP), out=o)
        return o.reshape(c, n, wp)


def synthesize(
    synth: SynthesisWeights,
    z: np.ndarray | _Upsampler,
    height: int,
    width: int,
    bound: float | None = None,
) -> np.ndarray:
    """Exact integer synthesis of ``z`` [levels + 1, H * W] (last row ones) to uint8 (H, W, C).

    Same pixels as ``synthesis_integer`` followed by the output rounding of :func:`reconstruct`.
    ``z`` may also be an :class:`_Upsampler`, whose rows are then made as the 1x1 layers need
    them. ``bound``: a bound on ``|z|`` (the clamps it makes useless are skipped; None: keep
    them; an _Upsampler brings its own).
    """
    lin1, lin2, conv_a, conv_b = synth.layers()
    frac = SYNTH_FRAC_BITS
    clamp = float(SYNTH_ACT_CLAMP)
    c = lin2.weight.shape[0]
    m1 = _folded(lin1, frac, True)
    m2 = _folded(lin2, frac, False, rows=4 if c == 3 else 0)  # BLAS prefers 4 rows to 3
    ma, mb = _folded(conv_a, frac, False), _folded(conv_b, frac, False)
    # bounds (before floors; +1 covers them): clamps that cannot bite are skipped
    if isinstance(z, _Upsampler):
        bound, levels = z.bound, len(z.grids)
    else:
        levels = z.shape[0] - 1
    big = bound is None or not np.isfinite(bound)
    zb = np.full(levels, clamp if big else float(bound))
    hb = _layer_bound(m1, zb)[:-1]  # (the last row carries the one)
    clamp_h = big or hb.max() > clamp
    hb = np.minimum(hb, clamp)
    yb = _layer_bound(m2[:c], hb)
    clamp_y = big or yb.max() > clamp
    yb = np.minimum(yb, clamp)
    ab = _layer_bound(ma, np.repeat(yb, 9))
    clamp_a = big or ab.max() > clamp
    ub = yb + np.minimum(ab, clamp)  # u = y + conv_a(y), not clamped by the format
    bb = _layer_bound(mb, np.repeat(ub, 9))
    clamp_b = big or bb.max() > clamp

    # y with a replicated border: [C, H + 2, W + 2] in planes of H + 3 rows (one spare row for
    # the windows' overreach), after one spare element (their first element)
    wp = width + 2
    y_plane = (height + 3) * wp
    y_flat = np.empty(1 + c * y_plane)
    y_flat[0] = 0.0
    y_flat[1:].reshape(c, height + 3, wp)[:, -1] = 0.0
    y = y_flat[1:].reshape(c, height + 3, wp)[:, : height + 2]
    if isinstance(z, _Upsampler):
        # the 1x1 layers on blocks of UP_BLOCK rows of the upsampled stack, made on demand
        block = np.empty((levels + 1, UP_BLOCK, width))
        block[levels] = 1.0
        for r0 in range(0, height, UP_BLOCK):
            n = min(height, r0 + UP_BLOCK) - r0
            z.rows(r0, r0 + n, block[:levels, :n])
            zb_flat = block[:, :n].reshape(levels + 1, n * width)
            _pointwise(zb_flat, m1, m2, y[:, 1 + r0 : 1 + r0 + n, 1:-1], clamp_y, clamp_h)
    else:
        _pointwise(z, m1, m2, y[:, 1:-1, 1:-1], clamp_y, clamp_h)
    _replicate_edges(y, True, True)

    band = max(1, BAND_PIXELS // width)
    if not clamp_a:
        # u = y + floor(conv_a(y)) = floor(conv_a(y) + y) (y holds integers): one more unit
        # on each channel's own centre tap, and no addition pass
        ma = ma.copy()
        for ch in range(c):
            ma[ch, ch * 9 + 4] += 1.0
    conv1 = _Conv3x3(ma, c, width, band + 2, clamp_a)
    conv2 = _Conv3x3(mb, c, width, band, clamp_b)
    u_buf = np.empty((c, (band + 2) * wp))
    r_plane = (band + 3) * wp  # relu(u) with a border, laid out like y
    r_flat = np.zeros(1 + c * r_plane)
    r_buf = r_flat[1:].reshape(c, band + 3, wp)
    out_buf = np.empty((c, band * wp))
    planar = np.empty((c, height, width), dtype=np.uint8)
    scale = 255.0 * 2.0**-frac
    for r0 in range(0, height, band):
        r1 = min(height, r0 + band)
        # u = y + conv_a(y) on rows a0 .. a1 - 1: the band and one row either side (inside)
        a0, a1 = max(0, r0 - 1), min(height, r1 + 1)
        na = a1 - a0
        u = conv1(y_flat, y_plane, 1 + a0 * wp, na, u_buf[:, : na * wp])
        if clamp_a:
            u += y[:, a0 + 1 : a1 + 1]
        # relu(u) on rows r0 - 1 .. r1 (replicated beyond the image), then conv_b on the band
        top, bottom = r0 == 0, r1 == height
        r = r_buf[:, : r1 - r0 + 2]
        np.maximum(u, 0.0, out=r[:, top : top + na])
        _replicate_edges(r, top, bottom)
        out = conv2(r_flat, r_plane, 1, r1 - r0, out_buf[:, : (r1 - r0) * wp])
        out += u[:, r0 - a0 : r1 - a0]
        # pixel = clip(floor(out * 255 / 2^12 + 1/2), 0, 255); the format clamps out to +-2^24
        # first, which the clip to 0..255 makes redundant, and the conversion to uint8 of the
        # clipped, non-negative value truncates: the floor
        out *= scale
        out += 0.5
        _clip(out, 0.0, 255.0, out=out)
        planar[:, r0:r1] = out[:, :, 1:-1]
    return np.ascontiguousarray(planar.transpose(1, 2, 0))


def reconstruct(
    weights: DecoderWeights,
    grids: list[np.ndarray],
    timings: dict[str, float] | None = None,
) -> np.ndarray:
    """Integer latents + quantized networks -> uint8 image (H, W, C), exactly."""
    up, pre, synth = weights.upsampling.up, weights.upsampling.pre, weights.synthesis
    h, w = grids[0].shape
    t0 = _clock()
    upsampler = _Upsampler(grids, up.weight, pre.weight, up.e_w)
    t1 = _clock()
    image = synthesize(synth, upsampler, h, w)
    t2 = _clock()
    if timings is not None:
        # the last row pass of the upsampling runs inside the synthesis: count it as upsampling
        split = (t1[0] + upsampler.seconds[0], t1[1] + upsampler.seconds[1])
        _record(timings, upsampling=(t0, split), synthesis=(split, t2))
    return image


def _clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)."""
    return time.perf_counter(), time.process_time()


def _record(timings: dict[str, float], **spans: tuple[tuple[float, float], tuple[float, float]]):
    """Store wall time as ``name`` and CPU time as ``name_cpu`` for each (start, end) span."""
    for name, (start, end) in spans.items():
        timings[name] = end[0] - start[0]
        timings[f"{name}_cpu"] = end[1] - start[1]


def decode_sections(sections: Sections, timings: dict[str, float] | None = None) -> np.ndarray:
    """Decode parsed sections to an (H, W, 3) or (H, W) uint8 array.

    ``timings`` (if given) receives wall seconds per stage: ``weights``, ``entropy_decoding``,
    ``upsampling``, ``synthesis`` (and ``reconstruction`` = the last two), and the process's CPU
    seconds of each as ``<stage>_cpu``.
    """
    h = sections.header
    t0 = _clock()
    weights = decode_weights(sections.weights, h.arch.weight_shapes())
    validate_modules(weights)
    t1 = _clock()
    shapes = grid_shapes(h.height, h.width, h.arch.levels)
    grids = decode_latents(sections.latents, sections.escapes, shapes, weights.arm)
    t2 = _clock()
    image = reconstruct(weights, grids, timings)
    t3 = _clock()
    if timings is not None:
        _record(timings, weights=(t0, t1), entropy_decoding=(t1, t2), reconstruction=(t2, t3))
    return image[:, :, 0] if h.channels == 1 else image


def decode_bytes(data: bytes, timings: dict[str, float] | None = None) -> np.ndarray:
    """Decode a complete .lnic file. Every failure is a :class:`BitstreamError`."""
    try:
        return decode_sections(unpack_file(bytes(data)), timings)
    except LnicError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # malformed values that passed the checksum (crafted files)
        log.debug("decoder failure", exc_info=True)
        raise BitstreamError(f"corrupt bitstream ({type(exc).__name__}: {exc})") from exc
