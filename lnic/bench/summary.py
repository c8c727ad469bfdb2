"""``lnic bench --summary``: one codec's rows image by image against the per-image anchors.

For each image, the BD-rate of the codec's points against each per-image anchor's points for
that image, then the mean over the images; then each point's rate against each anchor's curve
for its image at the same PSNR (:func:`lnic.bench.bdrate.rate_gap`), which says where a single
new point stands before a curve has enough points for a BD-rate; then those gaps averaged per
setting over the images, which says at which rates a codec loses (a BD-rate averages that away).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from lnic.bench.bdrate import BDError, rate_gap
from lnic.bench.compare import per_image_bd_rates
from lnic.bench.curves import PerImage, image_key, per_image_points
from lnic.bench.results import Result, load_results

__all__ = ["load_rows", "per_image_summary", "summarize"]

#: per-image anchors as :func:`lnic.bench.anchors.load_per_image_anchors` gives them
Anchors = dict[str, tuple[str, PerImage]]


def load_rows(path: str | os.PathLike[str]) -> list[Result]:
    """The rows of a results CSV, or of every results CSV in a benchmark folder."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.glob("*.csv") if not f.name.startswith("."))
        return [r for f in files for r in load_results(f)]
    if not p.exists():
        raise FileNotFoundError(f"results not found: {p}")
    return load_results(p)


def _pct(value: float) -> str:
    return f"{value:+.1f}%" if math.isfinite(value) else "n/a"


def _bd_table(points: PerImage, anchors: Anchors) -> list[str]:
    bd = {key: per_image_bd_rates(pts, points) for key, (_, pts) in anchors.items()}
    lines = [
        "| image | points | "
        + " | ".join(f"BD-rate vs {label}" for label, _ in anchors.values())
        + " |",
        "|---|---|" + "---|" * len(anchors),
    ]
    for image in sorted(points):
        cells = [_pct(bd[key].get(image, math.nan)) for key in anchors]
        lines.append(f"| {image} | {len(points[image][0])} | {' | '.join(cells)} |")
    means = []
    for key in anchors:
        finite = [v for v in bd[key].values() if math.isfinite(v)]
        means.append(f"**{np.mean(finite):+.1f}%**" if finite else "n/a")
    lines.append(f"| **mean** | | {' | '.join(means)} |")
    return lines


def _gap_value(anchor: PerImage, image: str, bpp: float, psnr: float) -> float | None:
    """The point's rate gap to the anchor's curve for its image; None where the anchor has no
    such image or the point lies outside its PSNR range."""
    if image not in anchor:
        return None
    try:
        return rate_gap(*anchor[image], bpp, psnr)
    except BDError:
        return None


def _gap(anchor: PerImage, image: str, bpp: float, psnr: float) -> str:
    if image not in anchor:
        return "n/a"
    gap = _gap_value(anchor, image, bpp, psnr)
    return "outside its range" if gap is None else f"{gap:+.1f}%"


def _gap_table(points: PerImage, anchors: Anchors) -> list[str]:
    lines = [
        "| image | bpp | PSNR-RGB | "
        + " | ".join(f"rate vs {label} at equal PSNR" for label, _ in anchors.values())
        + " |",
        "|---|---|---|" + "---|" * len(anchors),
    ]
    for image in sorted(points):
        for bpp, psnr in sorted(zip(*points[image], strict=True)):
            cells = [_gap(pts, image, bpp, psnr) for _, pts in anchors.values()]
            lines.append(f"| {image} | {bpp:.4f} | {psnr:.2f} | {' | '.join(cells)} |")
    return lines


def _setting_table(rows: list[Result], anchors: Anchors) -> list[str]:
    """Per setting: the mean bpp and PSNR over its images, and the mean rate gap against each
    anchor over the images where the point lies inside the anchor's PSNR range (how many that
    is, in brackets)."""
    by_setting: dict[str, list[Result]] = {}
    for r in rows:
        by_setting.setdefault(r.setting, []).append(r)
    lines = [
        "| setting | images | mean bpp | mean PSNR-RGB | "
        + " | ".join(f"mean rate vs {label} at equal PSNR" for label, _ in anchors.values())
        + " |",
        "|---|---|---|---|" + "---|" * len(anchors),
    ]

    def mean_bpp(item: tuple[str, list[Result]]) -> float:
        return float(np.mean([r.bpp for r in item[1]]))

    for setting, group in sorted(by_setting.items(), key=mean_bpp):
        cells = []
        for _, pts in anchors.values():
            found = (_gap_value(pts, image_key(r.image), r.bpp, r.psnr_rgb) for r in group)
            gaps = [g for g in found if g is not None]
            cells.append(f"{np.mean(gaps):+.1f}% ({len(gaps)})" if gaps else "outside its range")
        bpp = np.mean([r.bpp for r in group])
        psnr = np.mean([r.psnr_rgb for r in group])
        lines.append(f"| {setting} | {len(group)} | {bpp:.3f} | {psnr:.2f} | {' | '.join(cells)} |")
    return lines


def per_image_summary(points: PerImage, anchors: Anchors, rows: list[Result] | None = None) -> str:
    """Markdown: the per-image BD-rate table with the mean, the per-point rate gaps, and, given
    the codec's ``rows``, the mean gap per setting."""
    parts = [*_bd_table(points, anchors), "", *_gap_table(points, anchors)]
    if rows:
        parts += ["", *_setting_table(rows, anchors)]
    return "\n".join(parts)


def summarize(rows: list[Result], codecs: list[str] | None, anchors: Anchors) -> str:
    """:func:`per_image_summary` of each codec in ``codecs`` (default: every codec of ``rows``).

    Raises ``ValueError`` when a requested codec has no rows.
    """
    points = per_image_points(rows)
    names = codecs or sorted(points)
    missing = [n for n in names if n not in points]
    if missing:
        found = ", ".join(sorted(points)) or "none"
        raise ValueError(f"no rows of {', '.join(missing)} (codecs found: {found})")
    sections = []
    for name in names:
        own = [r for r in rows if r.codec == name]
        sections.append(f"## {name}\n\n{per_image_summary(points[name], anchors, own)}\n")
    return "\n".join(sections)
