"""BD-rate comparisons: a curve against an anchor curve, and per image against per-image anchors."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from lnic.bench.bdrate import BDError, bd_psnr, bd_rate
from lnic.bench.curves import Curve, PerImage

__all__ = [
    "CurveBD",
    "PerImageBD",
    "compare_curves",
    "mean_per_image_bd_rate",
    "per_image_bd_rates",
    "per_image_curve",
    "summarise_bd_rates",
]

log = logging.getLogger(__name__)


@dataclass
class CurveBD:
    """BD figures of one curve against an anchor curve (NaN when they cannot be compared)."""

    bd_rate: float
    bd_psnr: float
    overlap_db: tuple[float, float] | None


@dataclass
class PerImageBD:
    """Mean of per-image BD-rates over the images both sides have."""

    mean: float
    low: float
    high: float
    images: int

    @property
    def valid(self) -> bool:
        """Whether at least one image could be compared."""
        return self.images > 0


def compare_curves(anchor: Curve, test: Curve) -> CurveBD:
    """BD-rate (%) and BD-PSNR (dB) of ``test`` against ``anchor``, and the shared PSNR range."""
    try:
        rate = bd_rate(anchor.bpp, anchor.psnr_rgb, test.bpp, test.psnr_rgb)
    except BDError as exc:
        log.info("BD-rate %s vs %s: %s", test.name, anchor.name, exc)
        rate = math.nan
    try:
        dpsnr = bd_psnr(anchor.bpp, anchor.psnr_rgb, test.bpp, test.psnr_rgb)
    except BDError:
        dpsnr = math.nan
    overlap = None
    finite_a = [p for p in anchor.psnr_rgb if math.isfinite(p)]
    finite_t = [p for p in test.psnr_rgb if math.isfinite(p)]
    if finite_a and finite_t:
        lo, hi = max(min(finite_a), min(finite_t)), min(max(finite_a), max(finite_t))
        overlap = (lo, hi) if hi > lo else None
    return CurveBD(rate, dpsnr, overlap)


def per_image_bd_rates(anchor: PerImage, test: PerImage) -> dict[str, float]:
    """BD-rate of each image that both have (matched by name); NaN where they do not overlap."""
    out = {}
    for image in sorted(set(anchor) & set(test)):
        try:
            out[image] = bd_rate(*anchor[image], *test[image])
        except BDError as exc:
            log.info("per-image BD-rate on %s: %s", image, exc)
            out[image] = math.nan
    return out


def mean_per_image_bd_rate(anchor: PerImage, test: PerImage) -> PerImageBD:
    """BD-rate of each image that both have (matched by name), averaged over images."""
    return summarise_bd_rates(per_image_bd_rates(anchor, test))


def summarise_bd_rates(rates: dict[str, float]) -> PerImageBD:
    """Mean, lowest and highest of per-image BD-rates (:func:`per_image_bd_rates`), over the
    images whose curves meet the anchor's (NaN left out)."""
    values = [v for v in rates.values() if not math.isnan(v)]
    if not values:
        return PerImageBD(math.nan, math.nan, math.nan, 0)
    return PerImageBD(float(np.mean(values)), min(values), max(values), len(values))


def per_image_curve(
    name: str, points: PerImage, description: str = "", source: str = "shared"
) -> Curve:
    """Mean curve of per-image points that have the same number of points on every image.

    The i-th point of the mean curve averages the i-th lowest-rate point of every image (right
    for tables with one row per image and QP or lambda).
    """
    counts = {len(b) for b, _ in points.values()}
    if len(counts) != 1:
        raise ValueError(f"{name}: images have different numbers of points ({sorted(counts)})")
    bpp = np.mean([b for b, _ in points.values()], axis=0)
    psnr = np.mean([p for _, p in points.values()], axis=0)
    return Curve(
        name=name,
        bpp=[float(x) for x in bpp],
        psnr_rgb=[float(x) for x in psnr],
        description=description,
        source=source,
        images=len(points),
    )
