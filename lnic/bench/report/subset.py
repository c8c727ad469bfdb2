"""The subset plot: every curve redrawn over the images of the codec that covers the fewest.

When a measured codec covers fewer images than the others (lnic's Kodak rows while its run is
under way), the mean curves of the main plot average different images; redrawn over that
codec's complete images only, the curves can be compared by eye.
"""

from __future__ import annotations

import logging

from lnic.bench.compare import per_image_curve
from lnic.bench.curves import Curve, aggregate, complete_rows
from lnic.bench.data import image_key
from lnic.bench.report.inputs import ReportInputs

__all__ = ["SUBSET_PLOT", "smallest_subset", "subset_curves"]

log = logging.getLogger(__name__)

SUBSET_PLOT = "rd-psnr-subset.png"


def smallest_subset(inputs: ReportInputs) -> tuple[str, set[str]] | None:
    """The measured codec whose mean curve averages the fewest images
    (:func:`lnic.bench.curves.complete_rows`), and those, if a codec or anchor has more."""
    sets = {
        codec: {image_key(r.image) for r in complete_rows(rows)}
        for codec, rows in sorted(inputs.rows.items())
    }
    if not sets:
        return None
    sizes = [len(v) for v in sets.values()]
    sizes += [len(points) for _, points in inputs.per_image_anchors.values()]
    largest = max(sizes)
    codec = min(sets, key=lambda c: len(sets[c]))
    if not sets[codec] or len(sets[codec]) >= largest:
        return None
    return codec, sets[codec]


def subset_curves(inputs: ReportInputs, images: set[str]) -> list[Curve]:
    """Mean curves of every measured codec and per-image anchor over ``images`` only.

    A measured codec is drawn if it has rows for all of ``images``; an anchor if its table has
    every one of them with the same number of points (its mean curve pairs the i-th points).
    """
    curves: list[Curve] = []
    for rows in inputs.rows.values():
        picked = [r for r in rows if image_key(r.image) in images]
        if {image_key(r.image) for r in picked} != images:
            continue
        curves += [c for c in aggregate(picked).values() if len(c)]
    for key, (label, points) in inputs.per_image_anchors.items():
        if not images <= set(points):
            continue
        try:
            curve = per_image_curve(key, {i: points[i] for i in sorted(images)}, label)
        except ValueError as exc:
            log.info("%s not drawn over the subset: %s", key, exc)
            continue
        curves.append(curve)
    return curves
