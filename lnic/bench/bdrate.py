"""Bjontegaard delta rate and delta PSNR with a piecewise-cubic (PCHIP) fit.

Both functions follow the usual "pchip" variant of the Bjontegaard metric (as in CompressAI's
plots and the JVET/AOM tools): the log-rate of each curve is interpolated over PSNR with a
monotone piecewise-cubic Hermite interpolant, integrated over the PSNR range that the two curves
share, and the difference of the mean log-rates is turned into a percentage. BD-PSNR swaps the
axes: PSNR over log-rate, integrated over the shared log-rate range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["BDError", "bd_psnr", "bd_rate"]


class BDError(ValueError):
    """The two curves cannot be compared (too few points, no overlap, bad values)."""


def _clean(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Return finite points sorted by ``x``, with duplicate ``x`` values averaged."""
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise BDError(f"rate and quality lists differ in length ({xa.size} vs {ya.size})")
    keep = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    uniq, inverse = np.unique(xa, return_inverse=True)
    if uniq.size < 2:
        raise BDError("a curve needs at least two distinct points")
    ysum = np.zeros_like(uniq)
    np.add.at(ysum, inverse, ya)
    counts = np.bincount(inverse, minlength=uniq.size)
    return uniq, ysum / counts


def _mean_over_overlap(
    x1: np.ndarray,
    y1: np.ndarray,
    x2: np.ndarray,
    y2: np.ndarray,
    within: tuple[float, float] | None = None,
) -> tuple[float, float]:
    """Mean of the PCHIP fits of ``y1(x1)`` and ``y2(x2)`` over the shared ``x`` range.

    ``within`` narrows that range further, so that two records with different spans can be
    compared with an anchor over the same interval.
    """
    lo = max(x1[0], x2[0])
    hi = min(x1[-1], x2[-1])
    if within is not None:
        lo, hi = max(lo, within[0]), min(hi, within[1])
    if not hi > lo:
        raise BDError(f"the curves do not overlap (shared range [{lo:.4g}, {hi:.4g}])")
    m1 = PchipInterpolator(x1, y1).integrate(lo, hi) / (hi - lo)
    m2 = PchipInterpolator(x2, y2).integrate(lo, hi) / (hi - lo)
    return float(m1), float(m2)


def _log_rate(bpp: Sequence[float]) -> np.ndarray:
    rate = np.asarray(bpp, dtype=np.float64).ravel()
    if np.any(rate[np.isfinite(rate)] <= 0):
        raise BDError("rates must be positive")
    return np.log(rate)


def bd_rate(
    anchor_bpp: Sequence[float],
    anchor_psnr: Sequence[float],
    test_bpp: Sequence[float],
    test_psnr: Sequence[float],
    psnr_range: tuple[float, float] | None = None,
) -> float:
    """Bjontegaard delta rate of the test curve against the anchor, in percent.

    Negative values mean the test codec needs fewer bits than the anchor for the same PSNR.
    ``psnr_range`` (dB) limits the integral to part of the shared range. Raises
    :class:`BDError` when a curve has fewer than two points or the PSNR ranges do not overlap.
    """
    q1, r1 = _clean(anchor_psnr, _log_rate(anchor_bpp))
    q2, r2 = _clean(test_psnr, _log_rate(test_bpp))
    m1, m2 = _mean_over_overlap(q1, r1, q2, r2, psnr_range)
    return (math.exp(m2 - m1) - 1.0) * 100.0


def bd_psnr(
    anchor_bpp: Sequence[float],
    anchor_psnr: Sequence[float],
    test_bpp: Sequence[float],
    test_psnr: Sequence[float],
) -> float:
    """Bjontegaard delta PSNR of the test curve against the anchor, in dB (positive = better)."""
    r1, q1 = _clean(_log_rate(anchor_bpp), anchor_psnr)
    r2, q2 = _clean(_log_rate(test_bpp), test_psnr)
    m1, m2 = _mean_over_overlap(r1, q1, r2, q2)
    return m2 - m1


def rate_gap(
    anchor_bpp: Sequence[float], anchor_psnr: Sequence[float], bpp: float, psnr: float
) -> float:
    """Percent more bits than the anchor's curve at the PSNR of one test point.

    The anchor's log-rate is interpolated over PSNR (piecewise cubic, as :func:`bd_rate`);
    a point outside the anchor's PSNR range raises :class:`BDError` (no extrapolation).
    """
    q, lr = _clean(anchor_psnr, _log_rate(anchor_bpp))
    if not q[0] <= psnr <= q[-1]:
        raise BDError(f"PSNR {psnr:.2f} dB is outside the anchor's range [{q[0]:.2f}, {q[-1]:.2f}]")
    return float(100.0 * (bpp / math.exp(PchipInterpolator(q, lr)(psnr)) - 1.0))
