"""The decoder's fixed-point synthesis: the same pixels as
:func:`lnic.model.synthesis.synthesis_integer` followed by the output rounding, organised for
speed and memory.

* Every ``floor((acc + 2^(e-1)) / 2^e)`` is ``floor(acc * 2^-e + 1/2)`` with the power-of-two
  scale folded into the weights and the biases carried by a constant-one input (exact: scaling
  by a power of two commutes with float64 rounding, and every value is an integer multiple of
  ``2^-e`` far below ``2^53``, so matrix products are exact whatever the BLAS, its summation
  order or its thread count).
* No float64 plane of the whole image: the 1x1 layers run per block of rows as the upsampler
  makes them, the two 3x3 convolutions per band of rows, each stage on rows still in cache; the
  rows a band shares with the next carry over (:class:`_Stream`), nothing is recomputed, and any
  band size gives the same pixels.
* Clamps that a bound computed from the weights and the input shows cannot bite are skipped.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lnic.cbuild import address as _address
from lnic.decoder import c_kernels
from lnic.decoder.upsampling import UP_BLOCK, FixedPointUpsampler
from lnic.format import SYNTH_ACT_CLAMP, SYNTH_FRAC_BITS
from lnic.model.parts import SynthesisWeights
from lnic.model.quantized import QuantizedLinear, clip_ufunc

as_strided = np.lib.stride_tricks.as_strided

BLOCK_PIXELS = 2048
"""Most pixels per block of the 1x1 synthesis layers (the hidden activations stay in cache)."""

L2_SYSFS = Path("/sys/devices/system/cpu/cpu0/cache/index2/size")
"""Where Linux tells the size of the CPU's level-2 cache (e.g. ``512K``)."""


@functools.cache
def _l2_bytes() -> int | None:
    """The level-2 cache's size in bytes, or ``None`` where the system does not say."""
    try:
        text = L2_SYSFS.read_text().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
        return int(text.rstrip("KM")) * scale
    except (OSError, ValueError):
        return None


def block_pixels(hidden: int) -> int:
    """Pixels per block of the 1x1 layers for a hidden layer this wide: :data:`BLOCK_PIXELS`, or
    fewer where the block's float64 hidden activations would fill more than half of a small L2
    cache. On a Zen 2 EPYC (512 kB) the first layer's product takes twice as long per pixel once
    they outgrow it (``benchmarks/decode_speed.md``, 2026-12-06). The pixels do not depend on
    the blocking (exact integer arithmetic)."""
    l2 = _l2_bytes()
    if l2 is None:
        return BLOCK_PIXELS
    return max(1, min(BLOCK_PIXELS, l2 // 2 // (8 * hidden)))


BAND_PIXELS = 8192
"""About this many pixels per band of rows of the 3x3 convolutions."""

_CLAMP = float(SYNTH_ACT_CLAMP)


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


class _Plan(NamedTuple):
    """The folded layers of the synthesis and which of its clamps can bite."""

    channels: int
    lin1: np.ndarray
    lin2: np.ndarray
    conv_a: np.ndarray
    conv_b: np.ndarray
    clamp_hidden: bool
    clamp_y: bool
    clamp_a: bool
    clamp_b: bool


def _plan(weights: SynthesisWeights, levels: int, bound: float) -> _Plan:
    """Fold the layers and bound every activation for inputs ``|z| <= bound`` (the bounds
    include the floors: each adds at most 1)."""
    frac = SYNTH_FRAC_BITS
    c = weights.lin2.weight.shape[0]
    m1 = _folded(weights.lin1, frac, True)
    m2 = _folded(weights.lin2, frac, False, rows=4 if c == 3 else 0)  # BLAS prefers 4 rows to 3
    ma, mb = _folded(weights.conv_a, frac, False), _folded(weights.conv_b, frac, False)
    hb = _layer_bound(m1, np.full(levels, float(bound)))[:-1]  # (the last row carries the one)
    clamp_h = hb.max() > _CLAMP
    yb = _layer_bound(m2[:c], np.minimum(hb, _CLAMP))
    clamp_y = yb.max() > _CLAMP
    yb = np.minimum(yb, _CLAMP)
    ab = _layer_bound(ma, np.repeat(yb, 9))
    clamp_a = ab.max() > _CLAMP
    ub = yb + np.minimum(ab, _CLAMP)  # u = y + conv_a(y), not clamped by the format
    clamp_b = _layer_bound(mb, np.repeat(ub, 9)).max() > _CLAMP
    if not clamp_a:
        # u = y + floor(conv_a(y)) = floor(conv_a(y) + y) (y holds integers): one more unit
        # on each channel's own centre tap, and no addition pass
        for ch in range(c):
            ma[ch, ch * 9 + 4] += 1.0
    return _Plan(c, m1, m2, ma, mb, clamp_h, clamp_y, clamp_a, clamp_b)


def _pointwise(
    z: np.ndarray, plan: _Plan, y: np.ndarray, hidden: np.ndarray, out: np.ndarray
) -> None:
    """The two 1x1 layers: z [levels + 1, H * W] (last row ones) -> y [C, H, W] (any strides).

    Blocks of whole rows (``hidden`` and ``out`` hold one, about :func:`block_pixels`) keep the
    hidden layer in cache. With the C kernels, one call does it all (blocks of
    :data:`c_kernels.BLOCK` pixels, split over the OpenMP threads).
    """
    c, height, width = y.shape
    native = c_kernels.load()
    if native is not None and z.strides[1] == 8 and y.strides[2] == 8:
        k1, h1, h2 = plan.lin1.shape[1], plan.lin1.shape[0], plan.lin2.shape[0]
        native.pointwise(
            _address(z), z.strides[0] // 8, height * width,
            _address(plan.lin1), h1, k1, _address(plan.lin2), h2, c,
            _CLAMP if plan.clamp_hidden else np.inf, _CLAMP if plan.clamp_y else np.inf,
            _address(y), y.strides[0] // 8, y.strides[1] // 8, width,
        )  # fmt: skip
        return
    rows = hidden.shape[1] // width
    for r0 in range(0, height, rows):
        n = min(height, r0 + rows) - r0
        hb = hidden[:, : n * width]
        np.matmul(plan.lin1, z[:, r0 * width : (r0 + n) * width], out=hb)
        np.floor(hb, out=hb)
        if plan.clamp_hidden:
            clip_ufunc(hb, 0.0, _CLAMP, out=hb)
        else:
            np.maximum(hb, 0.0, out=hb)  # the ReLU alone: cheaper than a two-sided clip
        ob = out[:, : n * width]
        np.matmul(plan.lin2, hb, out=ob)
        yb = y[:, r0 : r0 + n]
        np.floor(ob[:c].reshape(c, n, width), out=yb)
        if plan.clamp_y:
            clip_ufunc(yb, -_CLAMP, _CLAMP, out=yb)


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
        native = c_kernels.load()
        if native is not None and (out is None or out.strides[1] == 8):
            o = np.empty((c, ln)) if out is None else out
            native.conv3x3(
                _address(flat) + 8 * (start - 1), plane, wp, ln, _address(self.m), c,
                _CLAMP if self.clamp else np.inf, _address(o), o.strides[0] // 8,
            )  # fmt: skip
            return o.reshape(c, n, wp)
        s = flat.strides[0]
        # output column j of a row is centred on input column j, so its window starts one
        # element earlier (for j = 0 a junk element: start >= 1); the last window of a plane
        # reaches one element past its rows (junk, inside the array)
        win = as_strided(flat[start - 1 :], (c, 3, 3, ln), (plane * s, wp * s, s, s))
        np.copyto(self.cols[: c * 9, :ln].reshape(c, 3, 3, ln), win)
        o = np.matmul(self.m, self.cols[:, :ln], out=out)
        np.floor(o, out=o)
        if self.clamp:
            clip_ufunc(o, -_CLAMP, _CLAMP, out=o)
        return o.reshape(c, n, wp)


class _Padded(NamedTuple):
    """Planes of [rows + 2, W + 2] (a replicated border) after one spare element, each with one
    spare row: the 3x3 windows overreach the planes by one element on either side."""

    flat: np.ndarray
    plane: int
    """Elements per plane in ``flat``."""
    view: np.ndarray
    """[C, rows + 2, W + 2] on ``flat``."""


def _padded(channels: int, rows: int, width: int) -> _Padded:
    wp = width + 2
    plane = (rows + 3) * wp
    flat = np.zeros(1 + channels * plane)
    return _Padded(flat, plane, flat[1:].reshape(channels, rows + 3, wp)[:, : rows + 2])


Y_AHEAD = 4
"""The y window holds about this many blocks of UP_BLOCK rows beyond a band (the rows made
ahead of need move to the window's front about once every Y_AHEAD - 1 blocks)."""


def _band_rows(width: int) -> int:
    """Rows per band of the 3x3 convolutions: about :data:`BAND_PIXELS` pixels."""
    return max(1, BAND_PIXELS // width)


class _Stream:
    """The synthesis band by band of output rows, every stage reading its input while it is in
    cache: the upsampler's rows, then the 1x1 layers (``y``), then ``u = y + conv_a(y)``, then
    ``u + conv_b(relu(u))``.

    No stage holds the whole image (whole-image float64 planes leave the cache between
    stages, and at 4K they cost more than the arithmetic): ``u`` lives in a window of a band
    and two rows, ``y`` in one of a band and a few blocks of upsampled rows (made UP_BLOCK
    rows at a time, as the upsampler's row pass is most efficient).
    Band ``[r0, r1)`` needs ``relu(u)`` on rows ``r0 - 1 .. r1``; the previous band left rows
    ``r0 - 1`` and ``r0`` of ``u`` at the end of its window (they move to the front), so each
    band computes only ``u`` rows ``r0 + 1 .. r1`` (rows ``0 .. r1`` for the first band), from
    ``y`` rows ``r0 .. r1 + 1`` of which two likewise carry over. Every row is computed once;
    rows beyond the image are the replicated border rows of the format.
    """

    def __init__(self, plan: _Plan, upsampler: FixedPointUpsampler, band: int) -> None:
        self.plan, self.upsampler, self.band = plan, upsampler, band
        c, levels = plan.channels, upsampler.levels
        self.height, self.width = height, width = upsampler.shape
        self.wp = width + 2
        self.conv1 = _Conv3x3(plan.conv_a, c, width, band + 1, plan.clamp_a)
        self.conv2 = _Conv3x3(plan.conv_b, c, width, band, plan.clamp_b)
        self.y = _padded(c, band + Y_AHEAD * UP_BLOCK, width)  # y rows base .. y_done - 1
        self.base, self.y_done = -1, 0
        self.u = np.empty((c, band + 2, self.wp))  # u rows r0 - 1 .. r1 (conv layout)
        self.r = _padded(c, band, width)  # relu(u) on the same rows, with a border
        self.out = np.empty((c, band * self.wp))
        self.carry = 0  # the u window's row of the next band's row r0 - 1
        self.block = np.empty((levels + 1, UP_BLOCK, width))
        self.block[levels] = 1.0
        rows = max(1, block_pixels(plan.lin1.shape[0]) // width)
        self.hidden = np.empty((plan.lin1.shape[0], rows * width))
        self.lin_out = np.empty((plan.lin2.shape[0], rows * width))

    def _make_y(self, r0: int, r1: int, dst: np.ndarray) -> None:
        """y rows ``r0 .. r1 - 1`` into ``dst`` [C, r1 - r0, W], by blocks of upsampled rows."""
        levels, width = self.upsampler.levels, self.width
        for b0 in range(r0, r1, UP_BLOCK):
            n = min(r1, b0 + UP_BLOCK) - b0
            self.upsampler.rows(b0, b0 + n, self.block[:levels, :n])
            z = self.block[:, :n].reshape(levels + 1, n * width)
            _pointwise(z, self.plan, dst[:, b0 - r0 : b0 - r0 + n], self.hidden, self.lin_out)

    def _y_window(self, s: int, e: int) -> int:
        """Make y rows ``s - 1 .. e`` present in the y window; returns the window row of
        ``s - 1``. Rows are made UP_BLOCK at a time, ahead of need; the rows still to be used
        move to the front when the window is full."""
        view, height = self.y.view, self.height
        if s == 0:
            self.base = -1  # window row j holds y row base + j
        stop = min(e + 1, height)
        while self.y_done < stop:
            end = min(height, self.y_done + UP_BLOCK)
            if end - self.base + 1 > view.shape[1]:  # (one row spare for the bottom border)
                keep = slice(s - 1 - self.base, self.y_done - self.base)
                view[:, : keep.stop - keep.start] = view[:, keep]
                self.base = s - 1
            lo, hi = self.y_done - self.base, end - self.base
            self._make_y(self.y_done, end, view[:, lo:hi, 1:-1])
            self.y_done = end
        first = s - 1 - self.base
        _replicate_edges(view[:, first : e - self.base + 1], s == 0, e == height)
        return first

    def band_pixels(self, r0: int, r1: int, dst: np.ndarray) -> None:
        """Output rows ``r0 .. r1 - 1`` (bands in order, each starting where the last ended)
        into ``dst`` [r1 - r0, W, C] uint8."""
        plan, wp, height = self.plan, self.wp, self.height
        n, u = r1 - r0, self.u
        # u rows s .. e - 1 are new; the window holds rows r0 - 1 .. r1 at rows 0 .. n + 1
        s, e = (0, min(height, r1 + 1)) if r0 == 0 else (r0 + 1, min(height, r1 + 1))
        if r0 > 0:
            u[:, 0:2] = u[:, self.carry : self.carry + 2]
        if e > s:
            first, y = self._y_window(s, e), self.y
            at = s - r0 + 1
            flat_u = u.reshape(plan.channels, -1)  # (a view: u is contiguous)
            self.conv1(
                y.flat, y.plane, 1 + first * wp, e - s, flat_u[:, at * wp : (at + e - s) * wp]
            )
            if plan.clamp_a:
                u[:, at : at + e - s] += y.view[:, first + 1 : first + 1 + e - s]
        self.carry = n
        # relu(u) on rows r0 - 1 .. r1 (replicated beyond the image), then conv_b on the band
        top, bottom = r0 == 0, r1 == height
        rv = self.r.view[:, : n + 2]
        np.maximum(u[:, top : n + 2 - bottom], 0.0, out=rv[:, top : n + 2 - bottom])
        _replicate_edges(rv, top, bottom)
        out = self.conv2(self.r.flat, self.r.plane, 1, n, self.out[:, : n * wp])
        out += u[:, 1 : n + 1]
        # pixel = clip(floor(out * 255 / 2^12 + 1/2), 0, 255); the format clamps out to +-2^24
        # first, which the clip to 0..255 makes redundant, and the conversion to uint8 of the
        # clipped, non-negative value truncates: the floor
        out *= 255.0 * 2.0**-SYNTH_FRAC_BITS
        out += 0.5
        clip_ufunc(out, 0.0, 255.0, out=out)
        dst[...] = out[:, :, 1:-1].transpose(1, 2, 0)


def synthesize(
    weights: SynthesisWeights, upsampler: FixedPointUpsampler, band: int | None = None
) -> np.ndarray:
    """Exact integer synthesis of the upsampled latents to uint8 (H, W, C), band by band of
    ``band`` rows (default: about :data:`BAND_PIXELS` pixels; any band gives the same pixels)."""
    plan = _plan(weights, upsampler.levels, upsampler.bound)
    height, width = upsampler.shape
    band = band or _band_rows(width)
    image = np.empty((height, width, plan.channels), dtype=np.uint8)
    stream = _Stream(plan, upsampler, band)
    for r0 in range(0, height, band):
        r1 = min(height, r0 + band)
        stream.band_pixels(r0, r1, image[r0:r1])
    return image
