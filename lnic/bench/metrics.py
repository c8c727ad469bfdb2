"""Distortion metrics on 8-bit images: PSNR-RGB, PSNR-YUV (BT.709) and MS-SSIM (RGB).

All functions take two ``(H, W, 3)`` uint8 arrays (original first). PSNR of identical images is
``inf``; callers that store numbers should keep it as ``inf`` (CSV writes ``inf``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import correlate1d

from lnic.image_io import psnr as image_psnr

__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim", "psnr", "psnr_rgb", "psnr_yuv", "rgb_to_ycbcr709"]

#: Wang, Simoncelli & Bovik (2003) scale weights, finest scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN = 11
_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03
_PEAK = 255.0


def _check_pair(ref: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(ref)
    b = np.asarray(dist)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) images, got {a.shape}")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(err: float, peak: float = _PEAK) -> float:
    """PSNR in dB of a mean squared error (``inf`` for zero error)."""
    if err <= 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / err)


def psnr_rgb(ref: np.ndarray, dist: np.ndarray) -> float:
    """PSNR over all R, G and B samples of one 8-bit image."""
    return image_psnr(*_check_pair(ref, dist))


def rgb_to_ycbcr709(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.709 Y'CbCr of 8-bit R'G'B' values, as float64 on the 0..255 scale."""
    x = np.asarray(rgb, dtype=np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    cb = (b - y) / 1.8556 + 128.0
    cr = (r - y) / 1.5748 + 128.0
    return np.stack([y, cb, cr], axis=-1)


def psnr_yuv(ref: np.ndarray, dist: np.ndarray) -> float:
    """Weighted PSNR ``(6 * PSNR_Y + PSNR_Cb + PSNR_Cr) / 8`` in full-range BT.709 Y'CbCr.

    The conversion is done in floating point (no rounding), on both images, from the 8-bit RGB
    values. A channel with zero error has infinite PSNR, so identical images give ``inf``.
    """
    a, b = _check_pair(ref, dist)
    ya, yb = rgb_to_ycbcr709(a), rgb_to_ycbcr709(b)
    per_channel = [psnr(float(np.mean((ya[..., c] - yb[..., c]) ** 2))) for c in range(3)]
    return (6.0 * per_channel[0] + per_channel[1] + per_channel[2]) / 8.0


def _gaussian_window(size: int = _WIN, sigma: float = _SIGMA) -> np.ndarray:
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(coords**2) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: np.ndarray, win: np.ndarray) -> np.ndarray:
    """Separable filtering of a (H, W, C) array keeping only fully covered ('valid') outputs."""
    y = correlate1d(x, win, axis=0, mode="constant")
    y = correlate1d(y, win, axis=1, mode="constant")
    h = win.size // 2
    return y[h : x.shape[0] - h, h : x.shape[1] - h]


def _ssim_terms(a: np.ndarray, b: np.ndarray, win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and contrast-structure (cs) terms of one scale."""
    c1 = (_K1 * _PEAK) ** 2
    c2 = (_K2 * _PEAK) ** 2
    nc = a.shape[2]
    moments = _filter_valid(np.concatenate([a, b, a * a, b * b, a * b], axis=2), win)
    mu_a, mu_b, e_aa, e_bb, e_ab = (moments[..., i * nc : (i + 1) * nc] for i in range(5))
    var_a = e_aa - mu_a * mu_a
    var_b = e_bb - mu_b * mu_b
    cov = e_ab - mu_a * mu_b
    cs_map = (2.0 * cov + c2) / (var_a + var_b + c2)
    lum_map = (2.0 * mu_a * mu_b + c1) / (mu_a * mu_a + mu_b * mu_b + c1)
    return (lum_map * cs_map).mean(axis=(0, 1)), cs_map.mean(axis=(0, 1))


def _downsample2(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling (odd trailing rows/columns are dropped)."""
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    x = x[:h, :w]
    return 0.25 * (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2])


def ms_ssim_min_size(scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Smallest image side for which all MS-SSIM scales still hold one 11x11 window."""
    return (_WIN - 1) * 2 ** (scales - 1) + 1


def ms_ssim(ref: np.ndarray, dist: np.ndarray) -> float:
    """Multi-scale SSIM on RGB (5 scales, Wang weights, 11x11 Gaussian with sigma 1.5).

    Computed per channel on the 0..255 scale and averaged over R, G and B. Returns ``nan`` when
    the image is smaller than :func:`ms_ssim_min_size` (161 pixels) on either side.
    """
    a, b = _check_pair(ref, dist)
    if min(a.shape[0], a.shape[1]) < ms_ssim_min_size():
        return math.nan
    win = _gaussian_window()
    weights = np.asarray(MS_SSIM_WEIGHTS)
    values = []
    for level in range(len(weights)):
        ssim_c, cs_c = _ssim_terms(a, b, win)
        last = level == len(weights) - 1
        values.append(np.maximum(ssim_c if last else cs_c, 0.0))
        if not last:
            a, b = _downsample2(a), _downsample2(b)
    stacked = np.stack(values)  # (scales, channels)
    per_channel = np.prod(stacked ** weights[:, None], axis=0)
    return float(per_channel.mean())
