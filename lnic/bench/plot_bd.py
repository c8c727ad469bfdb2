"""The per-image BD-rate chart: one bar per image and codec against VTM-23.13's points of that
image, so that a reader sees at a glance which images a codec wins and loses (the report's
tables list the same numbers)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lnic.bench.compare import PerImageBD, per_image_bd_rates, summarise_bd_rates
from lnic.bench.curves import PerImage
from lnic.bench.plot import save_figure

__all__ = ["BDSeries", "bd_series", "plot_per_image_bd"]

PER_IMAGE_PLOT = "bd-per-image.png"
"""File name of the chart in a report folder."""


@dataclass(frozen=True)
class BDSeries:
    """One codec's BD-rate (%) per image against the anchor; NaN where the curves do not meet."""

    name: str
    rates: dict[str, float]

    @property
    def summary(self) -> PerImageBD:
        """Mean (NaN if none), range and count of the images with a BD-rate."""
        return summarise_bd_rates(self.rates)


def bd_series(anchor: PerImage, codecs: Mapping[str, PerImage]) -> list[BDSeries]:
    """Each codec's per-image BD-rates against ``anchor`` (images matched by name)."""
    return [BDSeries(name, per_image_bd_rates(anchor, pts)) for name, pts in codecs.items()]


_COLOURS = ["red", "darkorange", "tab:blue", "tab:green", "tab:purple"]
_REFERENCE = {"coolchic5": ("slategray", "Cool-chic 5.0 (published)")}
"""Series drawn in grey under their display name: published points, not measured here."""


def plot_per_image_bd(
    series: list[BDSeries], path: str | os.PathLike[str], *, anchor: str, title: str = ""
) -> Path:
    """Grouped bars of ``series`` over the union of their images (sorted by name), with each
    series' mean as a dashed line of its colour; written atomically to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = sorted({image for s in series for image in s.rates})
    fig, ax = plt.subplots(figsize=(max(8.0, 0.5 * len(images) + 3.0), 5.5), dpi=110)
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(images))
    spare = list(_COLOURS)
    for i, s in enumerate(series):
        colour, name = _REFERENCE.get(s.name) or (spare.pop(0) if spare else "gray", s.name)
        heights = [s.rates.get(image, math.nan) for image in images]
        offset = (i - (len(series) - 1) / 2) * width
        summary = s.summary
        label = f"{name}: mean {summary.mean:+.1f}% over {summary.images} images"
        ax.bar(x + offset, np.nan_to_num(heights, nan=0.0), width, color=colour, label=label)
        for xi, h in zip(x + offset, heights, strict=True):
            if not math.isfinite(h):  # no overlap with the anchor: say so, not a zero bar
                ax.text(xi, 0.0, "n/a", rotation=90, ha="center", va="bottom", fontsize=7)
        if summary.valid:
            ax.axhline(summary.mean, color=colour, linestyle="--", linewidth=1.0)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, [image.removeprefix("kodim") for image in images], fontsize=8)
    ax.set_xlabel("image" + (" (kodimNN)" if images and images[0].startswith("kodim") else ""))
    ax.set_ylabel(f"BD-rate against {anchor} (%): below 0 = fewer bits")
    ax.grid(True, axis="y", alpha=0.35)
    if title:
        ax.set_title(title)
    if series:
        ax.legend(loc="upper left", fontsize=8.5, frameon=False)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
    return save_figure(fig, path)
