"""The markdown report of a benchmark folder, section by section.

Sections: how the rows were made (commands, machine, dataset, conventions), the ranking by
BD-rate against one anchor curve, the per-image BD-rates against the per-image anchors, a
sentence per measured codec, the versions, settings and timings of the measured codecs, and the
plots.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from lnic.bench.compare import (
    CurveBD,
    PerImageBD,
    compare_curves,
    mean_per_image_bd_rate,
    per_image_curve,
)
from lnic.bench.curves import Curve, PerImage
from lnic.bench.provenance import short_commit
from lnic.bench.report.inputs import ReportInputs
from lnic.bench.report.subset import SUBSET_PLOT, smallest_subset

__all__ = ["render_markdown"]

log = logging.getLogger(__name__)

#: codecs without a decoder network: their MAC/pixel cell says so
_CLASSICAL = {
    "vtm",
    "vtm23",
    "hm",
    "bpg444",
    "av1",
    "jpeg2000",
    "webp",
    "jpeg",
    "jpeg444",
    "avif",
    "avif-s4",
    "jxl",
    "heic",
}

_CONVENTIONS = (
    "Conventions: bpp = 8 x file bytes / pixels; PSNR-RGB = 10 log10(255^2 / MSE) with the "
    "MSE over all R, G, B samples of one image; each curve point is the mean bpp and the mean "
    "PSNR over the images at one setting (CompressAI's convention). BD-rate: piecewise-cubic "
    "(PCHIP) fit of log-rate over PSNR, integrated over the PSNR range both curves cover; "
    "negative = fewer bits than the anchor."
)


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:+.1f}%"


def _db(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:+.2f} dB"


def _mac(curve: Curve) -> str:
    if curve.mac_text:
        return curve.mac_text
    if curve.mac_per_pixel is not None:
        v = curve.mac_per_pixel
        return f"{v / 1000:.1f}k" if v >= 10000 else f"{v:.0f}"
    base = curve.name.split(":")[0]
    return "n/a (classical)" if base in _CLASSICAL else "n/a"


def _range(values: list[float], fmt: str) -> str:
    finite = [v for v in values if math.isfinite(v)]
    return f"{fmt.format(min(finite))}-{fmt.format(max(finite))}" if finite else "-"


def _mean_cell(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    return f"{(sum(finite) / len(finite)) if finite else math.nan:.3f}"


def _per_image_cell(bd: PerImageBD | None, total: int, missing: str) -> str:
    if bd is None:
        return missing
    if not bd.valid:
        return "n/a"
    return f"{_pct(bd.mean)} ({_pct(bd.low)} .. {_pct(bd.high)}; {bd.images}/{total} img)"


@dataclass
class _Row:
    curve: Curve
    bd: CurveBD


def _find_anchor(inputs: ReportInputs, name: str) -> Curve | None:
    if name.startswith("measured:"):
        return inputs.measured.get(name.split(":", 1)[1])
    return inputs.published.get(name) or inputs.measured.get(name)


def _pick_anchor(inputs: ReportInputs, name: str) -> Curve | None:
    """The anchor curve called ``name``, else the first measured curve (None if none)."""
    anchor = _find_anchor(inputs, name)
    if anchor is None and inputs.measured:
        fallback = sorted(inputs.measured)[0]
        (log.warning if inputs.published else log.info)(
            "anchor %r not found, using measured %s", name, fallback
        )
        anchor = inputs.measured[fallback]
    return anchor


def _ranking(inputs: ReportInputs, anchor: Curve) -> list[_Row]:
    rows = []
    for curve in [*inputs.measured.values(), *inputs.published.values()]:
        if len(curve) == 0:
            continue
        rows.append(_Row(curve, compare_curves(anchor, curve)))
    rows.sort(key=lambda r: (not math.isfinite(r.bd.bd_rate), r.bd.bd_rate))
    return rows


def _provenance_section(info: dict[str, object], commit: str) -> list[str]:
    """Commands, machine, dataset, the report's commit and the conventions of every figure."""
    lines: list[str] = []
    commands = info.get("commands") or ([info["command"]] if info.get("command") else [])
    if commands:
        lines += ["Commands (run from the repository root):", "", "```"]
        lines += [str(c) for c in commands]  # type: ignore[union-attr]
        lines += ["```", ""]
    machine = info.get("machine")
    if isinstance(machine, dict):
        lines += [
            f"Machine: {machine.get('cpu_count')} CPU cores, {machine.get('processor')}, "
            f"{machine.get('platform')}, Python {machine.get('python')}.",
            "",
        ]
    if info.get("dataset"):
        crop = f" (centre crops of {info['crop']} px)" if info.get("crop") else ""
        lines += [f"Dataset: `{info['dataset']}`{crop}.", ""]
    if commit:
        lines += [
            f"Report written at commit `{short_commit(commit)}`; the commits of each codec's "
            "rows are in the last table.",
            "",
        ]
    return [*lines, _CONVENTIONS, ""]


def _ranking_row(row: _Row, anchor: Curve) -> tuple[str, bool]:
    """One line of the ranking table, and whether it averages fewer images than the anchor."""
    c = row.curve
    src = c.source + (f", {c.images} img" if c.source != "published" and c.images else "")
    ov = f"{row.bd.overlap_db[0]:.1f}-{row.bd.overlap_db[1]:.1f}" if row.bd.overlap_db else "-"
    name = f"**{c.name}**" if c.source == "measured" else c.name
    if c is anchor:
        name += " (anchor)"
    fewer = bool(anchor.images and c.images and c.images < anchor.images)
    mark = " (*)" if fewer else ""
    line = (
        f"| {name} | {src} | {len(c)} | {_range(c.bpp, '{:.3f}')} | "
        f"{_pct(row.bd.bd_rate)}{mark} | {_db(row.bd.bd_psnr)} | {ov} | {_mac(c)} |"
    )
    return line, fewer


def _ranking_section(ranking: list[_Row], anchor: Curve) -> list[str]:
    lines = [
        f"## BD-rate against {anchor.name} ({anchor.source})",
        "",
        f"Anchor: {anchor.name} - {anchor.description or 'measured here'}.",
        "",
        f"| codec | source | points | bpp range | BD-rate vs {anchor.name} | BD-PSNR | "
        "PSNR overlap (dB) | decoder MAC/px |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    subset = False
    for row in ranking:
        line, fewer = _ranking_row(row, anchor)
        lines.append(line)
        subset = subset or fewer
    lines.append("")
    if subset:
        lines += [
            f"(*) mean curve over fewer images than the anchor's {anchor.images}: not comparable "
            "with it; see the per-image BD-rates and the same-image VTM-23.13 curve below.",
            "",
        ]
    return lines


def _per_image_row(
    name: str,
    pts: PerImage,
    curve: Curve | None,
    vtm23: PerImage | None,
    peers: list[PerImage | None],
) -> str:
    """One codec's BD-rates against the per-image anchors: VTM-23.13, then each of ``peers``
    (the Cool-chic columns; ``None``: no points, a dash)."""
    mean_curve = "n/a"
    if vtm23 is not None and curve is not None and len(curve):
        same = {k: v for k, v in vtm23.items() if k in pts}
        if same:
            mean_curve = _pct(compare_curves(per_image_curve("vtm23", same), curve).bd_rate)
    v = mean_per_image_bd_rate(vtm23, pts) if vtm23 else None
    cells = [f"| {name} | {mean_curve} | {_per_image_cell(v, len(pts), 'n/a')} |"]
    for peer in peers:
        k = mean_per_image_bd_rate(peer, pts) if peer else None
        cells.append(f" {_per_image_cell(k, len(pts), '-')} |")
    return "".join(cells)


def _per_image_section(inputs: ReportInputs) -> list[str]:
    vtm23 = inputs.per_image_anchors.get("vtm23")
    cc5 = inputs.per_image_anchors.get("coolchic5")
    cc42 = inputs.per_image_anchors.get("coolchic42")
    if vtm23 is None and cc5 is None:
        return []
    vtm_points = vtm23[1] if vtm23 is not None else None
    cc5_points = cc5[1] if cc5 is not None else None
    cc42_points = cc42[1] if cc42 is not None else None
    lines = [
        "## Per-image BD-rate",
        "",
        "BD-rate of each image against the per-image anchor points (matched by image name), "
        "then the mean over images (min .. max in brackets). `VTM-23.13 mean curve` is the "
        "BD-rate of the codec's mean curve against the mean of the per-image VTM-23.13 "
        "points over the same images. Cool-chic 4.2's decoder (~1.3-1.45 kMAC/pixel) is of "
        "lnic's class.",
        "",
        "| codec | VTM-23.13 mean curve | per-image vs VTM-23.13 | per-image vs Cool-chic 5.0 "
        "| per-image vs Cool-chic 4.2 |",
        "|---|---:|---|---|---|",
    ]
    peers = [cc5_points, cc42_points]
    for name, pts in sorted(inputs.measured_points.items()):
        lines.append(_per_image_row(name, pts, inputs.measured.get(name), vtm_points, peers))
    if cc5_points is not None:
        curve = inputs.published.get("coolchic5")
        row = _per_image_row(
            "coolchic5 (published)", cc5_points, curve, vtm_points, [None, cc42_points]
        )
        lines.append(row)
    lines.append("")
    return lines


def _sentence(row: _Row, anchor: Curve, per_image: PerImageBD | None) -> str:
    c = row.curve
    rate = row.bd.bd_rate
    if not math.isfinite(rate):
        return f"- **{c.name}**: no PSNR overlap with {anchor.name}, no BD-rate."
    more = "more" if rate >= 0 else "fewer"
    text = (
        f"- **{c.name}**: {_pct(rate)} BD-rate against {anchor.name} "
        f"({abs(rate):.0f}% {more} bits for the same PSNR-RGB, {_db(row.bd.bd_psnr)} BD-PSNR)"
    )
    if per_image is not None and per_image.valid:
        text += f"; mean per-image BD-rate against VTM-23.13 {_pct(per_image.mean)}"
    return text + "."


def _standing_section(inputs: ReportInputs, ranking: list[_Row], anchor: Curve) -> list[str]:
    """A sentence per measured codec: its BD-rate against the anchor and against VTM-23.13."""
    measured_rows = [r for r in ranking if r.curve.source == "measured"]
    if not measured_rows:
        return []
    vtm23 = inputs.per_image_anchors.get("vtm23")
    lines = [f"## Where the measured codecs stand against {anchor.name}", ""]
    for row in measured_rows:
        if row.curve is anchor:
            continue
        pts = inputs.measured_points.get(row.curve.name)
        per_image = mean_per_image_bd_rate(vtm23[1], pts) if vtm23 and pts is not None else None
        lines.append(_sentence(row, anchor, per_image))
    lines.append("")
    return lines


def _versions_section(inputs: ReportInputs) -> list[str]:
    if not inputs.measured:
        return []
    lines = [
        "## Measured codecs: versions, settings, timings",
        "",
        "Timings are wall-clock seconds per image of one encode / decode call in this "
        "process (including the Python binding's conversions), averaged over all rows.",
        "",
        "| codec | library versions | encoder and setting | settings | commits of the rows | "
        "mean encode s | mean decode s |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for name, curve in sorted(inputs.measured.items()):
        rs = inputs.rows.get(name, [])
        settings = ", ".join(curve.settings or [])
        commits = ", ".join(f"`{short_commit(c)}`" for c in curve.commits or []) or "n/a"
        lines.append(
            f"| {name} | {curve.version or 'n/a'} | {curve.description} | {settings} | {commits} | "
            f"{_mean_cell([r.encode_s for r in rs])} | {_mean_cell([r.decode_s for r in rs])} |"
        )
    lines.append("")
    return lines


def _plots_section(inputs: ReportInputs) -> list[str]:
    lines = [
        "Plots: `rd-psnr.png` (PSNR-RGB) and `rd-msssim.png` (MS-SSIM-RGB in dB); measured "
        "curves solid, published dashed (classical) or dotted (learned).",
    ]
    subset = smallest_subset(inputs)
    if subset is not None:
        codec, images = subset
        names = ", ".join(sorted(images))
        lines.append(
            f"`{SUBSET_PLOT}`: every measured codec and the per-image anchors averaged over the "
            f"{len(images)} images that {codec} has at all its settings ({names}), the curves "
            "to compare it with by eye."
        )
    lines.append("")
    return lines


def render_markdown(inputs: ReportInputs, anchor_name: str = "vtm") -> str:
    """The markdown report: ranking by BD-rate, per-image BD-rates, versions and settings."""
    anchor = _pick_anchor(inputs, anchor_name)
    lines = ["# lnic bench report", "", *_provenance_section(inputs.run_info, inputs.commit)]
    if anchor is None:
        lines += ["No curves to report.", ""]
        return "\n".join(lines)
    ranking = _ranking(inputs, anchor)
    lines += _ranking_section(ranking, anchor)
    lines += _per_image_section(inputs)
    lines += _standing_section(inputs, ranking, anchor)
    lines += _versions_section(inputs)
    lines += _plots_section(inputs)
    return "\n".join(lines)
