"""What a report is made from: the results CSVs and ``run.json`` of a folder, and the anchors."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from lnic.bench.anchors import load_per_image_anchors, load_published
from lnic.bench.codecs import preset_of
from lnic.bench.compare import per_image_curve
from lnic.bench.curves import (
    Curve,
    PerImage,
    aggregate,
    complete_rows,
    load_curve_file,
    per_image_points,
)
from lnic.bench.results import Result, load_results
from lnic.bench.run_info import RUN_INFO

__all__ = ["ReportInputs", "collect"]

log = logging.getLogger(__name__)


@dataclass
class ReportInputs:
    """Everything a report is made from."""

    measured: dict[str, Curve]
    measured_points: dict[str, PerImage]
    published: dict[str, Curve]
    per_image_anchors: dict[str, tuple[str, PerImage]]
    run_info: dict[str, object] = field(default_factory=dict)
    rows: dict[str, list[Result]] = field(default_factory=dict)
    #: commit of the code that writes the report (empty: not stated)
    commit: str = ""


def _csv_files(out_dir: Path) -> list[Path]:
    return sorted(p for p in out_dir.glob("*.csv") if not p.name.startswith("."))


def _load_rows(out: Path) -> list[Result]:
    results: list[Result] = []
    for path in _csv_files(out):
        try:
            results += load_results(path)
        except ValueError as exc:
            log.warning("%s", exc)
    return results


def _describe(measured: dict[str, Curve], info: dict[str, object]) -> None:
    """Fill each measured curve's description, version and MAC/pixel from ``run.json``, and
    the preset of lnic's curves from their name."""
    codec_info = info.get("codecs", {}) if isinstance(info.get("codecs"), dict) else {}
    for name, curve in measured.items():
        entry = codec_info.get(name, {}) if isinstance(codec_info, dict) else {}
        curve.description = str(entry.get("description", "")) or f"results of {name}"
        curve.version = entry.get("version")
        if curve.mac_per_pixel is None and isinstance(entry.get("mac_per_pixel"), int | float):
            curve.mac_per_pixel = float(entry["mac_per_pixel"])
        preset = preset_of(name)
        if preset is not None:
            curve.extra["preset"] = preset


def collect(
    out_dir: str | os.PathLike[str],
    anchors_dir: str | os.PathLike[str] | None,
    extra_curves: tuple[str, ...] | list[str] = (),
) -> ReportInputs:
    """Read results CSVs, ``run.json`` and the anchors (``anchors_dir=None``: no anchors)."""
    out = Path(out_dir)
    info: dict[str, object] = {}
    if (out / RUN_INFO).exists():
        info = json.loads((out / RUN_INFO).read_text(encoding="utf-8"))
    results = _load_rows(out)
    kept = complete_rows(results)  # the rows of the mean curves; the per-image tables use them too
    measured = aggregate(kept, complete_only=False)
    _describe(measured, info)
    rows: dict[str, list[Result]] = {}
    for r in results:
        rows.setdefault(r.codec, []).append(r)

    published: dict[str, Curve] = {}
    per_image: dict[str, tuple[str, PerImage]] = {}
    if anchors_dir is not None:
        published.update(load_published(anchors_dir))
        per_image = load_per_image_anchors(anchors_dir)
        if "vtm23" in per_image:
            label, pts = per_image["vtm23"]
            curve = per_image_curve("vtm23", pts, f"{label} all-intra, 4:4:4 (per-image, measured)")
            published["vtm23"] = curve
    for path in extra_curves:
        for c in load_curve_file(path, source="published"):
            published[c.name] = c
    return ReportInputs(measured, per_image_points(kept), published, per_image, info, rows)
