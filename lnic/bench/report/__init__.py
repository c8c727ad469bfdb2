"""The report of a benchmark folder: CompressAI-style JSON per codec, markdown tables, RD plots.

:func:`write_report` reads every results CSV in the folder (``lnic bench``'s own and any other
with the same columns), the published anchors (``kodak.json``) and the per-image anchors
(VTM-23.13, Cool-chic 5.0), and writes ``<codec>.json``, ``report.md``, ``rd-psnr.png`` and
``rd-msssim.png``, ``rd-psnr-subset.png`` when a measured codec covers fewer images than the
others (:mod:`lnic.bench.report.subset`), and ``bd-per-image.png`` (every lnic codec's and
Cool-chic 5.0's BD-rate per image against VTM-23.13) when the folder has lnic rows and the
per-image VTM-23.13 anchor is there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lnic.bench.curves import curve_to_json
from lnic.bench.plot import plot_rd
from lnic.bench.plot_bd import PER_IMAGE_PLOT, bd_series, plot_per_image_bd
from lnic.bench.provenance import git_commit
from lnic.bench.report.inputs import ReportInputs, collect
from lnic.bench.report.markdown import render_markdown
from lnic.bench.report.subset import SUBSET_PLOT, smallest_subset, subset_curves
from lnic.bench.results import atomic_write_text

__all__ = ["ReportInputs", "collect", "render_markdown", "subset_curves", "write_report"]


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
    inputs.commit = git_commit()
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
    subset = smallest_subset(inputs)
    if subset is not None:
        codec, images = subset
        title = f"{dataset}: the {len(images)} images of {codec}, mean over those images"
        plot_rd(subset_curves(inputs, images), out / SUBSET_PLOT, max_bpp=max_bpp, title=title)
    else:
        (out / SUBSET_PLOT).unlink(missing_ok=True)
    _per_image_plot(inputs, out / PER_IMAGE_PLOT, dataset)
    return out / "report.md"


def _per_image_plot(inputs: ReportInputs, path: Path, dataset: str) -> None:
    """The per-image BD-rate chart of the lnic codecs (and Cool-chic 5.0) against VTM-23.13;
    a stale chart is removed where there is nothing to draw."""
    vtm = inputs.per_image_anchors.get("vtm23")
    codecs = {k: v for k, v in sorted(inputs.measured_points.items()) if k.startswith("lnic")}
    if vtm is None or not codecs:
        path.unlink(missing_ok=True)
        return
    cc5 = inputs.per_image_anchors.get("coolchic5")
    if cc5 is not None:  # on the images lnic has, so that the means compare like with like
        have = {image for pts in codecs.values() for image in pts}
        codecs["coolchic5"] = {k: v for k, v in cc5[1].items() if k in have}
    title = f"{dataset}: BD-rate of each image against its VTM-23.13 points"
    plot_per_image_bd(bd_series(vtm[1], codecs), path, anchor="VTM-23.13", title=title)
