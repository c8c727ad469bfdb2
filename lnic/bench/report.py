"""The report of a benchmark folder: CompressAI-style JSON per codec, markdown tables, RD plots.

:func:`write_report` reads every results CSV in the folder (``lnic bench``'s own and any other
with the same columns, such as ``lnic.csv``), the published anchors (``kodak.json``) and the
per-image anchors (VTM-23.13, Cool-chic 5.0), and writes ``<codec>.json``, ``report.md``,
``rd-psnr.png`` and ``rd-msssim.png``. When a measured codec covers fewer images than the others
(lnic's Kodak rows: 8 of 24), the mean curves of the main plot average different images, so
``rd-psnr-subset.png`` redraws every measured codec and the per-image anchors over that codec's
images only.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from lnic.bench.compare import (
    CurveBD,
    PerImageBD,
    compare_curves,
    mean_per_image_bd_rate,
    per_image_curve,
)
from lnic.bench.curves import (
    Curve,
    PerImage,
    aggregate,
    curve_to_json,
    load_curve_file,
    load_per_image_table,
    per_image_points,
)
from lnic.bench.data import image_key
from lnic.bench.plot import plot_rd
from lnic.bench.results import Result, atomic_write_text, load_results

__all__ = ["ReportInputs", "collect", "render_markdown", "write_report"]

log = logging.getLogger(__name__)

ANCHORS_FILE = "kodak.json"
#: per-image anchor tables in the anchors folder: key, label, file name
PER_IMAGE_ANCHORS = (
    ("vtm23", "VTM-23.13", "kodak-vtm23-per-image.csv"),
    ("coolchic5", "Cool-chic 5.0", "kodak-coolchic5-per-image.tsv"),
)
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
_OUTPUTS = ("report.md", "rd-psnr.png", "rd-msssim.png", "run.json")
SUBSET_PLOT = "rd-psnr-subset.png"


@dataclass
class ReportInputs:
    """Everything a report is made from."""

    measured: dict[str, Curve]
    measured_points: dict[str, PerImage]
    published: dict[str, Curve]
    per_image_anchors: dict[str, tuple[str, PerImage]]
    run_info: dict[str, object] = field(default_factory=dict)
    rows: dict[str, list[Result]] = field(default_factory=dict)


def _csv_files(out_dir: Path) -> list[Path]:
    return sorted(p for p in out_dir.glob("*.csv") if not p.name.startswith("."))


def collect(
    out_dir: str | os.PathLike[str],
    anchors_dir: str | os.PathLike[str] | None,
    extra_curves: tuple[str, ...] | list[str] = (),
) -> ReportInputs:
    """Read results CSVs, ``run.json`` and the anchors (``anchors_dir=None``: no anchors)."""
    out = Path(out_dir)
    info: dict[str, object] = {}
    if (out / "run.json").exists():
        info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    results: list[Result] = []
    for path in _csv_files(out):
        try:
            results += load_results(path)
        except ValueError as exc:
            log.warning("%s", exc)
    measured = aggregate(results)
    codec_info = info.get("codecs", {}) if isinstance(info.get("codecs"), dict) else {}
    for name, curve in measured.items():
        entry = codec_info.get(name, {}) if isinstance(codec_info, dict) else {}
        curve.description = str(entry.get("description", "")) or f"results of {name}"
        curve.version = entry.get("version")
        if curve.mac_per_pixel is None and isinstance(entry.get("mac_per_pixel"), int | float):
            curve.mac_per_pixel = float(entry["mac_per_pixel"])
    rows: dict[str, list[Result]] = {}
    for r in results:
        rows.setdefault(r.codec, []).append(r)

    published: dict[str, Curve] = {}
    per_image: dict[str, tuple[str, PerImage]] = {}
    if anchors_dir is not None:
        adir = Path(anchors_dir)
        if (adir / ANCHORS_FILE).exists():
            for c in load_curve_file(adir / ANCHORS_FILE):
                published[c.name] = c
        else:
            log.warning("no %s in %s", ANCHORS_FILE, adir)
        for key, label, fname in PER_IMAGE_ANCHORS:
            if (adir / fname).exists():
                per_image[key] = (label, load_per_image_table(adir / fname))
        if "vtm23" in per_image:
            label, pts = per_image["vtm23"]
            curve = per_image_curve("vtm23", pts, f"{label} all-intra, 4:4:4 (per-image, measured)")
            published["vtm23"] = curve
    for path in extra_curves:
        for c in load_curve_file(path, source="published"):
            published[c.name] = c
    return ReportInputs(measured, per_image_points(results), published, per_image, info, rows)


def _find_anchor(inputs: ReportInputs, name: str) -> Curve | None:
    if name.startswith("measured:"):
        return inputs.measured.get(name.split(":", 1)[1])
    return inputs.published.get(name) or inputs.measured.get(name)


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


def _per_image_cell(bd: PerImageBD, total: int) -> str:
    if not bd.valid:
        return "n/a"
    return f"{_pct(bd.mean)} ({_pct(bd.low)} .. {_pct(bd.high)}; {bd.images}/{total} img)"


@dataclass
class _Row:
    curve: Curve
    bd: CurveBD


def _ranking(inputs: ReportInputs, anchor: Curve) -> list[_Row]:
    rows = []
    for curve in [*inputs.measured.values(), *inputs.published.values()]:
        if len(curve) == 0:
            continue
        rows.append(_Row(curve, compare_curves(anchor, curve)))
    rows.sort(key=lambda r: (not math.isfinite(r.bd.bd_rate), r.bd.bd_rate))
    return rows


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


def render_markdown(inputs: ReportInputs, anchor_name: str = "vtm") -> str:
    """The markdown report: ranking by BD-rate, per-image BD-rates, versions and settings."""
    anchor = _find_anchor(inputs, anchor_name)
    if anchor is None and inputs.measured:
        fallback = sorted(inputs.measured)[0]
        (log.warning if inputs.published else log.info)(
            "anchor %r not found, using measured %s", anchor_name, fallback
        )
        anchor = inputs.measured[fallback]
    lines = ["# lnic bench report", ""]
    info = inputs.run_info
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
    lines += [
        "Conventions: bpp = 8 x file bytes / pixels; PSNR-RGB = 10 log10(255^2 / MSE) with the "
        "MSE over all R, G, B samples of one image; each curve point is the mean bpp and the mean "
        "PSNR over the images at one setting (CompressAI's convention). BD-rate: piecewise-cubic "
        "(PCHIP) fit of log-rate over PSNR, integrated over the PSNR range both curves cover; "
        "negative = fewer bits than the anchor.",
        "",
    ]
    if anchor is None:
        lines += ["No curves to report.", ""]
        return "\n".join(lines)

    vtm23 = inputs.per_image_anchors.get("vtm23")
    cc5 = inputs.per_image_anchors.get("coolchic5")
    per_image_vtm: dict[str, PerImageBD] = {}
    if vtm23 is not None:
        for name, pts in inputs.measured_points.items():
            per_image_vtm[name] = mean_per_image_bd_rate(vtm23[1], pts)
        if cc5 is not None:
            per_image_vtm["coolchic5"] = mean_per_image_bd_rate(vtm23[1], cc5[1])

    ranking = _ranking(inputs, anchor)
    lines += [
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
        c = row.curve
        src = c.source + (f", {c.images} img" if c.source != "published" and c.images else "")
        ov = f"{row.bd.overlap_db[0]:.1f}-{row.bd.overlap_db[1]:.1f}" if row.bd.overlap_db else "-"
        name = f"**{c.name}**" if c.source == "measured" else c.name
        if c is anchor:
            name += " (anchor)"
        mark = ""
        if anchor.images and c.images and c.images < anchor.images:
            mark, subset = " (*)", True
        lines.append(
            f"| {name} | {src} | {len(c)} | {_range(c.bpp, '{:.3f}')} | "
            f"{_pct(row.bd.bd_rate)}{mark} | {_db(row.bd.bd_psnr)} | {ov} | {_mac(c)} |"
        )
    lines.append("")
    if subset:
        lines += [
            f"(*) mean curve over fewer images than the anchor's {anchor.images}: not comparable "
            "with it; see the per-image BD-rates and the same-image VTM-23.13 curve below.",
            "",
        ]

    if vtm23 is not None or cc5 is not None:
        lines += [
            "## Per-image BD-rate",
            "",
            "BD-rate of each image against the per-image anchor points (matched by image name), "
            "then the mean over images (min .. max in brackets). `VTM-23.13 mean curve` is the "
            "BD-rate of the codec's mean curve against the mean of the per-image VTM-23.13 "
            "points over the same images.",
            "",
            "| codec | VTM-23.13 mean curve | per-image vs VTM-23.13 "
            "| per-image vs Cool-chic 5.0 |",
            "|---|---:|---|---|",
        ]
        entries: list[tuple[str, PerImage, Curve | None]] = [
            (n, p, inputs.measured.get(n)) for n, p in sorted(inputs.measured_points.items())
        ]
        if cc5 is not None:
            entries.append(("coolchic5 (published)", cc5[1], inputs.published.get("coolchic5")))
        for name, pts, curve in entries:
            total = len(pts)
            mean_curve = "n/a"
            if vtm23 is not None and curve is not None and len(curve):
                same = {k: v for k, v in vtm23[1].items() if k in pts}
                if same:
                    vcurve = per_image_curve("vtm23", same)
                    mean_curve = _pct(compare_curves(vcurve, curve).bd_rate)
            v = mean_per_image_bd_rate(vtm23[1], pts) if vtm23 else None
            k = (
                mean_per_image_bd_rate(cc5[1], pts)
                if cc5 and not name.startswith("coolchic5")
                else None
            )
            lines.append(
                f"| {name} | {mean_curve} | {_per_image_cell(v, total) if v else 'n/a'} | "
                f"{_per_image_cell(k, total) if k else '-'} |"
            )
        lines.append("")

    measured_rows = [r for r in ranking if r.curve.source == "measured"]
    if measured_rows:
        lines += [f"## Where the measured codecs stand against {anchor.name}", ""]
        for row in measured_rows:
            if row.curve is anchor:
                continue
            lines.append(_sentence(row, anchor, per_image_vtm.get(row.curve.name)))
        lines.append("")

    if inputs.measured:
        lines += [
            "## Measured codecs: versions, settings, timings",
            "",
            "Timings are wall-clock seconds per image of one encode / decode call in this "
            "process (including the Python binding's conversions), averaged over all rows.",
            "",
            "| codec | library versions | encoder and setting | settings | mean encode s | "
            "mean decode s |",
            "|---|---|---|---|---:|---:|",
        ]
        for name, curve in sorted(inputs.measured.items()):
            rs = inputs.rows.get(name, [])
            enc = [r.encode_s for r in rs if math.isfinite(r.encode_s)]
            dec = [r.decode_s for r in rs if math.isfinite(r.decode_s)]
            settings = ", ".join(curve.settings or [])
            lines.append(
                f"| {name} | {curve.version or 'n/a'} | {curve.description} | {settings} | "
                f"{(sum(enc) / len(enc)) if enc else math.nan:.3f} | "
                f"{(sum(dec) / len(dec)) if dec else math.nan:.3f} |"
            )
        lines.append("")
    subset = _smallest_subset(inputs)
    lines += [
        "Plots: `rd-psnr.png` (PSNR-RGB) and `rd-msssim.png` (MS-SSIM-RGB in dB); measured "
        "curves solid, published dashed (classical) or dotted (learned).",
    ]
    if subset is not None:
        codec, images = subset
        lines.append(
            f"`{SUBSET_PLOT}`: every measured codec and the per-image anchors averaged over the "
            f"{len(images)} images of {codec} only ({', '.join(sorted(images))}), the curves to "
            "compare it with by eye."
        )
    lines.append("")
    return "\n".join(lines)


def _smallest_subset(inputs: ReportInputs) -> tuple[str, set[str]] | None:
    """The measured codec with the fewest images, and those, if a codec or anchor has more."""
    sets = {
        codec: {image_key(r.image) for r in rows} for codec, rows in sorted(inputs.rows.items())
    }
    if not sets:
        return None
    sizes = [len(v) for v in sets.values()]
    sizes += [len(points) for _, points in inputs.per_image_anchors.values()]
    largest = max(sizes)
    codec = min(sets, key=lambda c: len(sets[c]))
    if len(sets[codec]) >= largest:
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


def write_report(
    out_dir: str | os.PathLike[str],
    anchors_dir: str | os.PathLike[str] | None = None,
    *,
    anchor: str = "vtm",
    extra_curves: tuple[str, ...] | list[str] = (),
    max_bpp: float = 2.0,
) -> Path:
    """Regenerate JSON, ``report.md`` and the plots of a benchmark folder from its CSVs."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"benchmark folder not found: {out}")
    inputs = collect(out, anchors_dir, extra_curves)
    if inputs.run_info.get("crop"):
        # cropped images cannot be compared with full-image anchors
        inputs.published.clear()
        inputs.per_image_anchors.clear()
    for name, curve in inputs.measured.items():
        if len(curve):
            text = json.dumps(curve_to_json(curve), indent=2) + "\n"
            atomic_write_text(out / f"{name}.json", text)
    md = render_markdown(inputs, anchor)
    atomic_write_text(out / "report.md", md)
    curves = [*inputs.measured.values(), *inputs.published.values()]
    dataset = Path(str(inputs.run_info.get("dataset") or out.name)).name
    n = max((c.images or 0 for c in inputs.measured.values()), default=0)
    title = f"{dataset} ({n} images): rate-distortion, mean over images"
    plot_rd(curves, out / "rd-psnr.png", metric="psnr_rgb", max_bpp=max_bpp, title=title)
    plot_rd(curves, out / "rd-msssim.png", metric="ms_ssim", max_bpp=max_bpp, title=title)
    subset = _smallest_subset(inputs)
    if subset is not None:
        codec, images = subset
        title = f"{dataset}: the {len(images)} images of {codec}, mean over those images"
        plot_rd(subset_curves(inputs, images), out / SUBSET_PLOT, max_bpp=max_bpp, title=title)
    else:
        (out / SUBSET_PLOT).unlink(missing_ok=True)
    return out / "report.md"
