"""Learned upsampling: the latent grids are brought to full resolution level by level.

Each x2 step applies one learned, symmetric 8-tap filter ``[a, b, c, d, d, c, b, a]`` separably
(polyphase: 4 taps per output sample and axis, borders replicated); one filter per level
transition. Initialised to bicubic, it costs about 6 MAC per output sample and channel.
"""

from __future__ import annotations

import numpy as np

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
