"""Learned upsampling: the latent grids are brought to full resolution level by level.

Every grid is first filtered at its own resolution by a learned, separable, symmetric 7-tap
filter ``[p0, p1, p2, p3, p2, p1, p0]`` (the *pre-filter*, initialised to the identity): it
lets one latent shape a wider, smoother footprint, which smooth images need (format version 3;
the idea is Cool-chic's pre-concatenation filter). Each x2 step then applies one learned,
symmetric 8-tap filter ``[a, b, c, d, d, c, b, a]`` separably (polyphase: 4 taps per output
sample and axis, borders replicated); one filter per level transition. Initialised to bicubic,
it costs about 6 MAC per output sample and channel; the pre-filter 14 per latent.
"""

from __future__ import annotations

import numpy as np

PREFILTER_TAPS = 4
"""Free taps of a pre-filter: ``p0..p3`` of the symmetric 7-tap kernel."""

IDENTITY_PREFILTER = (0.0, 0.0, 0.0, 1.0)

# Keys bicubic (a = -0.5) weights at distances 1.75, 1.25, 0.75, 0.25: a bicubic x2 upsampler.
BICUBIC_INIT = (-0.0234375, -0.0703125, 0.2265625, 0.8671875)


def up_axis(x, taps, axis: int, size: int, take=np.take, stack=np.stack):
    """Upsample ``x`` by 2 along ``axis``, keeping ``size`` samples.

    ``take(x, indices, axis)`` and ``stack(arrays, axis)`` let the encoder's float model run the
    same formula on torch tensors.
    """
    a, b, c, d = taps
    n = x.shape[axis]
    idx = np.clip(np.arange(-2, n + 2), 0, n - 1)
    xp = take(x, idx, axis)

    def s(start: int):
        sl = [slice(None)] * x.ndim
        sl[axis] = slice(start, start + n)
        return xp[tuple(sl)]

    xm2, xm1, x0, xp1, xp2 = s(0), s(1), s(2), s(3), s(4)
    even = a * xm2 + c * xm1 + d * x0 + b * xp1
    odd = b * xm1 + d * x0 + c * xp1 + a * xp2
    out = stack([even, odd], axis + 1)
    shape = list(x.shape)
    shape[axis] = 2 * n
    out = out.reshape(shape)
    sl = [slice(None)] * x.ndim
    sl[axis] = slice(0, size)
    return out[tuple(sl)]


def upsampling_macs(shapes: list[tuple[int, int]]) -> int:
    """Total multiply-accumulates of the upsampling for the given grid shapes (finest first):
    the pre-filters (7 per axis and latent) and the x2 steps."""
    total = sum(14 * h * w for h, w in shapes)
    for k in range(len(shapes) - 1):
        channels = len(shapes) - 1 - k
        (h, w), (hc, _) = shapes[k], shapes[k + 1]
        total += channels * 4 * (hc * w + h * w)
    return total


def _round_shift(acc: np.ndarray, e: int) -> np.ndarray:
    return np.floor((acc + 2.0 ** (e - 1)) * 2.0**-e)


def prefilter_kernel(p) -> list:
    """The symmetric 7-tap kernel ``[p0, p1, p2, p3, p2, p1, p0]`` of pre-filter taps ``p``."""
    return [p[0], p[1], p[2], p[3], p[2], p[1], p[0]]


def prefilter_integer(grid: np.ndarray, p, e: int, frac: int, clamp: int) -> np.ndarray:
    """Exact integer pre-filter of one integer grid [h, w]; returns fixed point (``frac`` bits).

    Columns first: ``a = sum_j k_j g[x + j - 3]`` (exact integers, borders replicated), then
    ``u = floor((a * 2^frac + 2^(e-1)) / 2^e)`` clamped; rows: ``b = sum_j k_j u[y + j - 3]``,
    ``z = floor((b + 2^(e-1)) / 2^e)`` clamped. ``p`` holds integer taps (value * 2**e); the
    identity ``(0, 0, 0, 2**e)`` gives ``z = g * 2^frac`` exactly.
    """
    k = [float(v) for v in prefilter_kernel(p)]
    h, w = grid.shape
    g = np.pad(grid.astype(np.float64), ((0, 0), (3, 3)), mode="edge")
    a = sum(k[j] * g[:, j : j + w] for j in range(7))
    u = np.clip(_round_shift(a * 2.0**frac, e), -clamp, clamp)
    u = np.pad(u, ((3, 3), (0, 0)), mode="edge")
    b = sum(k[j] * u[j : j + h] for j in range(7))
    return np.clip(_round_shift(b, e), -clamp, clamp)


def upsample_integer(
    grids: list[np.ndarray], taps: np.ndarray, e: int, frac: int, clamp: int
) -> np.ndarray:
    """Exact integer form of :class:`Upsampler`.

    ``grids`` hold integer latents; ``taps`` [2 * levels - 1, 4] integer taps (value * 2**e):
    rows ``0 .. levels - 2`` the x2 filters (row k: grid k+1 -> k), the last ``levels`` rows the
    pre-filters of grids 0 .. levels - 1. Returns [levels, H, W] integers with ``frac``
    fractional bits.
    """
    levels = len(grids)
    pre = taps[levels - 1 :]
    x = prefilter_integer(grids[-1], pre[-1], e, frac, clamp)[None]
    for k in range(levels - 2, -1, -1):
        t = tuple(float(v) for v in taps[k])
        h, w = grids[k].shape
        x = np.clip(_round_shift(up_axis(x, t, 2, w), e), -clamp, clamp)
        x = np.clip(_round_shift(up_axis(x, t, 1, h), e), -clamp, clamp)
        x = np.concatenate([prefilter_integer(grids[k], pre[k], e, frac, clamp)[None], x], 0)
    return x
