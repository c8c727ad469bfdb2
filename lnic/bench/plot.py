"""Rate-distortion plots (matplotlib, Agg backend): measured curves solid, published dashed."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lnic.bench.curves import Curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_rd", "save_figure"]

# related codecs share a colour: a measured curve and its published counterpart
_COLOURS = {
    "vtm": "black",
    "vtm23": "dimgray",
    "hm": "tab:brown",
    "bpg444": "tab:brown",
    "heic": "tab:brown",
    "av1": "tab:purple",
    "avif": "tab:purple",
    "avif-s4": "indigo",
    "jpeg2000": "tab:green",
    "webp": "tab:orange",
    "jpeg": "tab:blue",
    "jpeg444": "tab:cyan",
    "jxl": "tab:olive",
    "bmshj2018-hyperprior": "silver",
    "mbt2018": "tab:pink",
    "cheng2020-anchor": "gray",
    "elic2022": "goldenrod",
    "coolchic5": "crimson",
    "coolchic42": "darkviolet",
}
#: legend names of the published curves
_DISPLAY = {
    "vtm": "VTM",
    "vtm23": "VTM-23.13 (per-image mean)",
    "hm": "HM",
    "bpg444": "BPG 4:4:4",
    "av1": "AV1 (libaom)",
    "jpeg2000": "JPEG 2000",
    "webp": "WebP",
    "jpeg": "JPEG",
    "bmshj2018-hyperprior": "bmshj2018-hyperprior",
    "mbt2018": "mbt2018",
    "cheng2020-anchor": "cheng2020-anchor",
    "elic2022": "ELIC",
    "coolchic5": "Cool-chic 5.0",
    "coolchic42": "Cool-chic 4.2 (per-image mean)",
}
_SPARE = ["teal", "navy", "darkorange", "lime", "magenta", "sienna", "slateblue", "darkkhaki"]
_LEARNED = {
    "bmshj2018-hyperprior",
    "mbt2018",
    "cheng2020-anchor",
    "elic2022",
    "coolchic5",
    "coolchic42",
}


def _style(curve: Curve, spare: list[str]) -> dict[str, object]:
    name = curve.name
    if name.startswith("lnic"):
        colour = "red"
    elif name in _COLOURS:
        colour = _COLOURS[name]
    else:
        colour = spare.pop(0) if spare else "gray"
    if curve.source == "measured":
        return {
            "color": colour,
            "linestyle": "-",
            "linewidth": 2.6 if name.startswith("lnic") else 1.8,
            "marker": "o",
            "markersize": 4,
        }
    return {
        "color": colour,
        "linestyle": ":" if name in _LEARNED else "--",
        "linewidth": 1.6 if name in ("vtm", "coolchic5") else 1.1,
        "marker": ".",
        "markersize": 3,
    }


def _label(curve: Curve) -> str:
    if curve.source == "measured":
        n = f", {curve.images} img" if curve.images else ""
        return f"{curve.name} (measured{n})"
    return f"{_DISPLAY.get(curve.name, curve.name)} ({curve.source})"


def _msssim_db(values: Sequence[float]) -> list[float]:
    return [-10.0 * math.log10(1.0 - v) if 0.0 <= v < 1.0 else math.nan for v in values]


def plot_rd(
    curves: Sequence[Curve],
    path: str | os.PathLike[str],
    *,
    metric: str = "psnr_rgb",
    max_bpp: float = 2.0,
    title: str = "",
) -> Path:
    """Plot quality against bpp for ``curves`` (metric ``psnr_rgb`` or ``ms_ssim``) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11.5, 7.0), dpi=110)
    spare = list(_SPARE)
    ys: list[float] = []
    lows: list[float] = []
    rank = {name: i for i, name in enumerate(_DISPLAY)}
    ordered = sorted(
        curves,
        key=lambda c: (
            c.source != "measured",
            rank.get(c.name, len(rank)) if c.source != "measured" else 0,
            c.name,
        ),
    )
    for curve in ordered:
        values = curve.psnr_rgb if metric == "psnr_rgb" else curve.ms_ssim
        if values is None or len(curve.bpp) == 0:
            continue
        if metric == "ms_ssim":
            values = _msssim_db(values)
        xs = list(curve.bpp)
        ax.plot(xs, values, label=_label(curve), **_style(curve, spare))  # type: ignore[arg-type]
        shown = [y for x, y in zip(xs, values, strict=True) if x <= max_bpp and math.isfinite(y)]
        ys += shown
        if shown:
            lows.append(min(shown))
    ax.set_xlim(0.0, max_bpp)
    if ys:
        # do not let one codec's very low points (e.g. JPEG at 0.1 bpp) squash the others
        lows.sort()
        floor = max(min(ys), lows[len(lows) // 2] - 1.5)
        ax.set_ylim(math.floor(floor), math.ceil(max(ys)) + 0.5)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR-RGB (dB)" if metric == "psnr_rgb" else "MS-SSIM-RGB (dB, -10 log10(1-x))")
    ax.grid(True, which="major", alpha=0.35)
    ax.minorticks_on()
    ax.grid(True, which="minor", alpha=0.12)
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, frameon=False)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")
    return save_figure(fig, path)


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Lay out ``fig``, write it to ``path`` (PNG) through a temporary file, so that a reader
    never sees half a plot, and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, out)
    return out
