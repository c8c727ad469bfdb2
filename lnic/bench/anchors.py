"""The published anchors in the shared anchors folder: mean curves and per-image points.

``kodak.json`` holds published mean curves (CompressAI style, one entry per codec); the
per-image tables hold VTM-23.13's, Cool-chic 5.0's and Cool-chic 4.2's points for every Kodak
image, which the per-image BD-rates compare against (Cool-chic 4.2's decoder, ~1.3-1.45
kMAC/pixel, is of lnic's class: the gap to it is the encoder's and the recipe's).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

from lnic.bench.curves import Curve, PerImage, load_curve_file, load_per_image_table

__all__ = [
    "ANCHORS_FILE",
    "PER_IMAGE_ANCHORS",
    "PerImageAnchor",
    "load_per_image_anchors",
    "load_published",
]

log = logging.getLogger(__name__)

ANCHORS_FILE = "kodak.json"


class PerImageAnchor(NamedTuple):
    """A per-image anchor table: its key, the label shown in reports, its file name."""

    key: str
    label: str
    file: str


#: per-image anchor tables of the anchors folder, in the order reports list them
PER_IMAGE_ANCHORS = (
    PerImageAnchor("vtm23", "VTM-23.13", "kodak-vtm23-per-image.csv"),
    PerImageAnchor("coolchic5", "Cool-chic 5.0", "kodak-coolchic5-per-image.tsv"),
    PerImageAnchor("coolchic42", "Cool-chic 4.2", "kodak-coolchic42-per-image.tsv"),
)


def load_published(anchors_dir: str | os.PathLike[str]) -> dict[str, Curve]:
    """The published mean curves of ``ANCHORS_FILE`` in ``anchors_dir`` (none if it is missing)."""
    path = Path(anchors_dir) / ANCHORS_FILE
    if not path.exists():
        log.warning("no %s in %s", ANCHORS_FILE, anchors_dir)
        return {}
    return {c.name: c for c in load_curve_file(path)}


def load_per_image_anchors(anchors_dir: str | os.PathLike[str]) -> dict[str, tuple[str, PerImage]]:
    """``{key: (label, points)}`` of the per-image anchor tables present in ``anchors_dir``."""
    found: dict[str, tuple[str, PerImage]] = {}
    for anchor in PER_IMAGE_ANCHORS:
        path = Path(anchors_dir) / anchor.file
        if path.exists():
            found[anchor.key] = (anchor.label, load_per_image_table(path))
    return found
