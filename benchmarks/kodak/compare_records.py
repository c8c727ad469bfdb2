"""Two records of lnic on Kodak against VTM-23.13 over the same PSNR range, image by image.

A BD-rate depends on the range it integrates over: lnic's gap to VTM is widest at low rates,
so a record that spans 0.04-2.8 bpp gives a smaller mean gap than one over 0.16-0.6 bpp even
with the same encoder. This script integrates both records' per-image curves over the range
that the older record, the newer one and VTM's points share on each image, and also gives the
newer record's BD-rate against the older one directly.

    python benchmarks/kodak/compare_records.py \
        benchmarks/kodak/history/lnic-default-5c75864-format3.csv benchmarks/kodak/lnic.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from lnic.bench.anchors import load_per_image_anchors
from lnic.bench.bdrate import bd_rate
from lnic.bench.curves import PerImage, per_image_points
from lnic.bench.summary import load_rows

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def _points(path: str) -> PerImage:
    found = per_image_points(load_rows(path))
    if len(found) != 1:
        raise SystemExit(f"{path}: expected the rows of one codec, found {sorted(found)}")
    return next(iter(found.values()))


def _span(points: tuple[list[float], list[float]]) -> tuple[float, float]:
    psnr = [p for p in points[1] if math.isfinite(p)]
    return min(psnr), max(psnr)


def compare(old: PerImage, new: PerImage, anchor: PerImage, min_points: int) -> list[str]:
    """Markdown rows: per image, old and new against the anchor over their shared span."""
    lines = [
        "| image | PSNR range (dB) | old vs VTM-23.13 | new vs VTM-23.13 | new vs old |",
        "|---|---|---|---|---|",
    ]
    cols: list[list[float]] = [[], [], []]
    for image in sorted(set(old) & set(new) & set(anchor)):
        if min(len(old[image][0]), len(new[image][0])) < min_points:
            continue
        spans = [_span(c[image]) for c in (old, new, anchor)]
        lo, hi = max(s[0] for s in spans), min(s[1] for s in spans)
        vals = [
            bd_rate(*anchor[image], *old[image], psnr_range=(lo, hi)),
            bd_rate(*anchor[image], *new[image], psnr_range=(lo, hi)),
            bd_rate(*old[image], *new[image], psnr_range=(lo, hi)),
        ]
        for c, v in zip(cols, vals):
            c.append(v)
        lines.append(
            f"| {image} | {lo:.2f}-{hi:.2f} | " + " | ".join(f"{v:+.1f}%" for v in vals) + " |"
        )
    if cols[0]:
        lines.append(
            f"| **mean ({len(cols[0])})** | | "
            + " | ".join(f"**{np.mean(c):+.1f}%**" for c in cols)
            + " |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("old", help="the older record's CSV")
    ap.add_argument("new", help="the newer record's CSV")
    ap.add_argument("--anchors", default=str(SHARED / "anchors"))
    ap.add_argument("--min-points", type=int, default=4, help="skip images with fewer points")
    args = ap.parse_args()
    anchors = load_per_image_anchors(args.anchors)
    if "vtm23" not in anchors:
        raise SystemExit(f"no VTM-23.13 per-image table in {args.anchors}")
    print(
        "\n".join(
            compare(_points(args.old), _points(args.new), anchors["vtm23"][1], args.min_points)
        )
    )


if __name__ == "__main__":
    main()
