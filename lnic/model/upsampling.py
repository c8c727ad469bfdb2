"""Learned upsampling: the latent grids are brought to full resolution level by level.

First every grid is smoothed at its own resolution by its own learned, symmetric 7-tap filter
``[c3, c2, c1, c0, c1, c2, c3]``, applied separably (columns, then rows; borders replicated;
initialised to the identity), as Cool-chic's pre-concatenation filter: with it each grid, not
only each level transition, gets the interpolation it needs. Each x2 step applies one learned,
symmetric 8-tap filter ``[a, b, c, d, d, c, b, a]`` separably (polyphase: 4 taps per output
sample and axis, borders replicated); one filter per level transition. Initialised to bicubic,
it costs about 6 MAC per output sample and channel.

This module is the decoder's exact integer form (the reference the fast decoder in
:mod:`lnic.decoder.upsampling` must match); the float form the encoder trains is
:class:`lnic.encoder.nets.upsampling.Upsampler`.
"""

from __future__ import annotations

import numpy as np

from lnic.model.parts import UpsamplingWeights

# Keys bicubic (a = -0.5) weights at distances 1.75, 1.25, 0.75, 0.25: a bicubic x2 upsampler.
BICUBIC_INIT = (-0.0234375, -0.0703125, 0.2265625, 0.8671875)


PREFILTER_INIT = (1.0, 0.0, 0.0, 0.0)
"""The pre-filter's taps ``(c0, c1, c2, c3)`` at the start of training: the identity."""

PREFILTER_RADIUS = 3
"""The pre-filter reads ``x[m - 3] .. x[m + 3]``."""


def prefilter_axis(x: np.ndarray, taps, axis: int) -> np.ndarray:
    """The pre-filter along ``axis`` (borders replicated): ``c0 x[m] + sum_j c_j (x[m-j] +
    x[m+j])`` for taps ``(c0, c1, c2, c3)``."""
    n = x.shape[axis]
    r = PREFILTER_RADIUS
    xp = np.take(x, np.clip(np.arange(-r, n + r), 0, n - 1), axis)

    def at(j: int) -> np.ndarray:
        return np.take(xp, np.arange(r + j, r + j + n), axis)

    return taps[0] * at(0) + sum(taps[j] * (at(-j) + at(j)) for j in range(1, r + 1))


def polyphase_taps(taps) -> tuple[tuple, tuple]:
    """The (even, odd) output phases of a x2 step as weights of ``x[m - 2] .. x[m + 2]``.

    ``even[m] = a x[m-2] + c x[m-1] + d x[m] + b x[m+1]`` and
    ``odd[m] = b x[m-1] + d x[m] + c x[m+1] + a x[m+2]`` for taps ``(a, b, c, d)``: the one
    definition of the filter layout that the reference, the fast decoder and the encoder's float
    model all build on. Works on floats, numpy scalars and torch tensors.
    """
    a, b, c, d = taps
    zero = a * 0
    return (a, c, d, b, zero), (zero, b, d, c, a)


def up_axis(x: np.ndarray, taps, axis: int, size: int) -> np.ndarray:
    """Upsample ``x`` by 2 along ``axis`` (borders replicated), keeping ``size`` samples."""
    n = x.shape[axis]
    xp = np.take(x, np.clip(np.arange(-2, n + 2), 0, n - 1), axis)
    shifted = [np.take(xp, np.arange(j, j + n), axis) for j in range(5)]
    even, odd = (sum(w * s for w, s in zip(phase, shifted)) for phase in polyphase_taps(taps))
    shape = list(x.shape)
    shape[axis] = 2 * n
    out = np.stack([even, odd], axis + 1).reshape(shape)
    return np.take(out, np.arange(size), axis)


def upsampling_macs(shapes: list[tuple[int, int]]) -> int:
    """Total multiply-accumulates of the upsampling for the given grid shapes (finest first):
    the pre-filter (7 taps per axis and latent) and the x2 steps."""
    total = sum(2 * (2 * PREFILTER_RADIUS + 1) * h * w for h, w in shapes)
    for k in range(len(shapes) - 1):
        channels = len(shapes) - 1 - k
        (h, w), (hc, _) = shapes[k], shapes[k + 1]
        total += channels * 4 * (hc * w + h * w)
    return total


def _round_shift(acc: np.ndarray, e: int) -> np.ndarray:
    return np.floor((acc + 2.0 ** (e - 1)) * 2.0**-e)


def prefilter_integer(
    grids: list[np.ndarray], pre: np.ndarray, e: int, frac: int, clamp: int
) -> list[np.ndarray]:
    """Exact integer pre-filter: every grid in fixed point (``frac`` fractional bits), filtered by
    its integer taps ``pre[k]`` (value * 2**e), rounded and clamped after each axis."""
    out = []
    for g, t in zip(grids, pre):
        taps = tuple(float(v) for v in t)
        x = g.astype(np.float64) * 2.0**frac
        for axis in (1, 0):
            x = np.clip(_round_shift(prefilter_axis(x, taps, axis), e), -clamp, clamp)
        out.append(x)
    return out


def upsample_integer(
    grids: list[np.ndarray], weights: UpsamplingWeights, frac: int, clamp: int
) -> np.ndarray:
    """Exact integer upsampling of a latent pyramid.

    ``grids`` hold integer latents; the taps of ``weights`` are integers (value * 2**e, ``e``
    the module's weight step exponent). Returns [levels, H, W] integers with ``frac``
    fractional bits.
    """
    taps, pre, e = weights.up.weight, weights.pre.weight, weights.up.e_w
    fixed = prefilter_integer(grids, pre, e, frac, clamp)
    x = fixed[-1][None]
    for k in range(len(grids) - 2, -1, -1):
        t = tuple(float(v) for v in taps[k])
        h, w = grids[k].shape
        x = np.clip(_round_shift(up_axis(x, t, 2, w), e), -clamp, clamp)
        x = np.clip(_round_shift(up_axis(x, t, 1, h), e), -clamp, clamp)
        x = np.concatenate([fixed[k][None], x], 0)
    return x
