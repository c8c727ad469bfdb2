"""``lnic bench --summary``: one codec's rows image by image against the per-image anchors.

For each image, the BD-rate of the codec's points against each per-image anchor's points for
that image, then the mean over the images; then each point's rate against each anchor's curve
for its image at the same PSNR (:func:`lnic.bench.bdrate.rate_gap`), which says where a single
new point stands before a curve has enough points for a BD-rate.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from lnic.bench.bdrate import BDError, rate_gap
from lnic.bench.compare import per_image_bd_rates
from lnic.bench.curves import PerImage, per_image_points
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


def _gap(anchor: PerImage, image: str, bpp: float, psnr: float) -> str:
    if image not in anchor:
        return "n/a"
    try:
        return f"{rate_gap(*anchor[image], bpp, psnr):+.1f}%"
    except BDError:  # outside the PSNR range of the anchor's points
        return "outside its range"


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


def per_image_summary(points: PerImage, anchors: Anchors) -> str:
    """Markdown: the per-image BD-rate table with the mean, then the per-point rate gaps."""
    return "\n".join([*_bd_table(points, anchors), "", *_gap_table(points, anchors)])


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
    sections = [f"## {name}\n\n{per_image_summary(points[name], anchors)}\n" for name in names]
    return "\n".join(sections)
