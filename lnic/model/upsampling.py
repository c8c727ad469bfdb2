"""Learned upsampling: the latent grids are brought to full resolution level by level.

Each x2 step applies one learned, symmetric 8-tap filter ``[a, b, c, d, d, c, b, a]`` separably
(polyphase: 4 taps per output sample and axis, borders replicated); one filter per level
transition. Initialised to bicubic, it costs about 6 MAC per output sample and channel.
"""

from __future__ import annotations

import numpy as np

# Keys bicubic (a = -0.5) weights at distances 1.75, 1.25, 0.75, 0.25: a bicubic x2 upsampler.
BICUBIC_INIT = (-0.0234375, -0.0703125, 0.2265625, 0.8671875)


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
    """Total multiply-accumulates of the upsampling for the given grid shapes (finest first)."""
    total = 0
    for k in range(len(shapes) - 1):
        channels = len(shapes) - 1 - k
        (h, w), (hc, _) = shapes[k], shapes[k + 1]
        total += channels * 4 * (hc * w + h * w)
    return total


def _round_shift(acc: np.ndarray, e: int) -> np.ndarray:
    return np.floor((acc + 2.0 ** (e - 1)) * 2.0**-e)


def upsample_integer(
    grids: list[np.ndarray], taps: np.ndarray, e: int, frac: int, clamp: int
) -> np.ndarray:
    """Exact integer form of :class:`Upsampler`.

    ``grids`` hold integer latents, ``taps`` [levels - 1, 4] integer filter taps (value * 2**e).
    Returns [levels, H, W] integers with ``frac`` fractional bits.
    """
    scale = 2.0**frac
    x = grids[-1][None].astype(np.float64) * scale
    for k in range(len(grids) - 2, -1, -1):
        t = tuple(float(v) for v in taps[k])
        h, w = grids[k].shape
        x = np.clip(_round_shift(up_axis(x, t, 2, w), e), -clamp, clamp)
        x = np.clip(_round_shift(up_axis(x, t, 1, h), e), -clamp, clamp)
        x = np.concatenate([grids[k][None].astype(np.float64) * scale, x], 0)
    return x
