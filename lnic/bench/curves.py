"""Rate-distortion curves: aggregation of per-image results, CompressAI-style JSON, anchors.

A :class:`Curve` is one codec's mean operating points (mean bpp and mean PSNR over images at each
setting, CompressAI's convention). Curves come from results CSVs (measured here), from
CompressAI result JSON files, or from the published-anchor file ``kodak.json``. Per-image points
(``{image: (bpp list, psnr list)}``) come from results CSVs and from the per-image anchor tables.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lnic.bench.data import image_key
from lnic.bench.results import Result

__all__ = [
    "Curve",
    "PerImage",
    "aggregate",
    "complete_rows",
    "curve_to_json",
    "load_curve_file",
    "load_per_image_table",
    "per_image_points",
]

log = logging.getLogger(__name__)

#: per-image points of one codec: image name -> (bpp values, PSNR-RGB values)
PerImage = dict[str, tuple[list[float], list[float]]]

_MAC_RE = re.compile(r"~?\s*([\d.]+)(?:\s*-\s*([\d.]+))?\s*(k?)MAC/px", re.IGNORECASE)


@dataclass
class Curve:
    """Mean rate-distortion points of one codec, sorted by rate."""

    name: str
    bpp: list[float]
    psnr_rgb: list[float]
    description: str = ""
    source: str = "measured"  # "measured" here, or "published"
    settings: list[str] | None = None
    psnr_yuv: list[float] | None = None
    ms_ssim: list[float] | None = None
    encode_s: list[float] | None = None
    decode_s: list[float] | None = None
    images: int | None = None
    mac_per_pixel: float | None = None
    #: how the MAC/pixel figure is shown when it is a range or an estimate (e.g. "108-140k")
    mac_text: str | None = None
    version: str | None = None
    #: commits of the code that made the rows (``git_commit()`` values), when known
    commits: list[str] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.bpp)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _optional(values: list[float]) -> list[float] | None:
    return None if all(math.isnan(v) for v in values) else values


def _mac_from_rows(rows: list[Result]) -> float | None:
    macs = []
    for r in rows:
        text = r.extra.get("mac_per_pixel", "")
        try:
            value = float(text)
        except ValueError:
            continue
        if math.isfinite(value):
            macs.append(value)
    return float(np.mean(macs)) if macs else None


def _complete_images(rows: list[Result]) -> set[str]:
    """The images that have a row at every setting that any image has."""
    settings = {r.setting for r in rows}
    by_image: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_image[r.image].add(r.setting)
    return {image for image, have in by_image.items() if have == settings}


def complete_rows(results: list[Result]) -> list[Result]:
    """The rows of every codec that :func:`aggregate` averages (see :func:`_complete_rows`), so
    that per-image tables can use the same images as the mean curves."""
    by_codec: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_codec[r.codec].append(r)
    return [r for codec, rows in by_codec.items() for r in _complete_rows(codec, rows)]


def _complete_rows(codec: str, rows: list[Result]) -> list[Result]:
    """The rows of one codec that make a mean curve over one set of images.

    Either every image at the settings they all have (an extra setting run on a few images is
    dropped), or the images that have every setting (a run under way: its last images have only
    some settings, and keeping them would drop those settings); whichever keeps more rows.
    """
    images = {r.image for r in rows}
    per_setting: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        per_setting[r.setting].add(r.image)
    shared = {s for s, have in per_setting.items() if have == images}
    full = _complete_images(rows)
    by_settings = [r for r in rows if r.setting in shared]
    by_images = [r for r in rows if r.image in full]
    if len(by_images) > len(by_settings):
        left = sorted(images - full)
        log.warning("%s: %s not at every setting yet, left out of the mean curve", codec, left)
        return by_images
    for setting in sorted(set(per_setting) - shared):
        log.warning(
            "%s setting %s: %d of %d images, left out of the mean curve",
            codec,
            setting,
            len(per_setting[setting]),
            len(images),
        )
    return by_settings


def aggregate(results: list[Result], complete_only: bool = True) -> dict[str, Curve]:
    """Mean curves per codec: mean bpp and mean metrics over images at each setting.

    With ``complete_only`` every point of a codec's curve averages the same images
    (:func:`_complete_rows` chooses which rows); left-out rows are logged.
    """
    by_codec: dict[str, list[Result]] = defaultdict(list)
    for r in complete_rows(results) if complete_only else results:
        by_codec[r.codec].append(r)
    curves: dict[str, Curve] = {}
    for codec, rows in by_codec.items():
        by_setting: dict[str, dict[str, Result]] = defaultdict(dict)
        for r in rows:
            by_setting[r.setting][r.image] = r  # a repeated row: the last one wins
        points = []
        for setting, per_image in by_setting.items():
            rs = list(per_image.values())
            points.append(
                (
                    _mean([r.bpp for r in rs]),
                    setting,
                    _mean([r.psnr_rgb for r in rs]),
                    _mean([r.psnr_yuv for r in rs]),
                    _mean([r.ms_ssim for r in rs]),
                    _mean([r.encode_s for r in rs]),
                    _mean([r.decode_s for r in rs]),
                )
            )
        points.sort(key=lambda p: p[0])
        cols = list(zip(*points, strict=True)) if points else [[]] * 7
        curves[codec] = Curve(
            name=codec,
            bpp=list(cols[0]),
            settings=list(cols[1]),
            psnr_rgb=list(cols[2]),
            psnr_yuv=_optional(list(cols[3])),
            ms_ssim=_optional(list(cols[4])),
            encode_s=_optional(list(cols[5])),
            decode_s=_optional(list(cols[6])),
            images=len({r.image for r in rows}),
            mac_per_pixel=_mac_from_rows(rows),
            commits=sorted({r.commit for r in rows if r.commit}) or None,
        )
    return curves


def per_image_points(results: list[Result]) -> dict[str, PerImage]:
    """Per-image points of each codec: {codec: {image: (bpp list, psnr list)}}, sorted by rate."""
    acc: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        acc[r.codec][image_key(r.image)].append((r.bpp, r.psnr_rgb))
    out: dict[str, PerImage] = {}
    for codec, per_image in acc.items():
        out[codec] = {}
        for img, pts in per_image.items():
            pts.sort()
            out[codec][img] = ([p[0] for p in pts], [p[1] for p in pts])
    return out


def curve_to_json(curve: Curve) -> dict[str, object]:
    """CompressAI-style result dict: ``{"name", "description", "results": {...}}``."""
    results: dict[str, object] = {"bpp": curve.bpp, "psnr-rgb": curve.psnr_rgb}
    if curve.psnr_yuv is not None:
        results["psnr-yuv"] = curve.psnr_yuv
    if curve.ms_ssim is not None:
        results["ms-ssim-rgb"] = curve.ms_ssim
    if curve.encode_s is not None:
        results["encoding_time"] = curve.encode_s
    if curve.decode_s is not None:
        results["decoding_time"] = curve.decode_s
    if curve.settings is not None:
        results["setting"] = curve.settings
    out: dict[str, object] = {
        "name": curve.name,
        "description": curve.description,
        "results": results,
    }
    if curve.images is not None:
        out["images"] = curve.images
    if curve.version:
        out["version"] = curve.version
    if curve.mac_per_pixel is not None:
        out["decoder_mac_per_pixel"] = curve.mac_per_pixel
    if curve.commits:
        out["commits"] = curve.commits
    out.update(curve.extra)
    return out


def _list(d: dict, *keys: str) -> list[float] | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, list) and v:
            return [float(x) for x in v]
    return None


def _mac_from_text(text: str) -> tuple[float | None, str | None]:
    """MAC/pixel in a description like '~43.5 kMAC/px' or '~260-583 kMAC/px'.

    Returns the (lower) value and the text to show, e.g. ``(260000.0, "260-583k")``.
    """
    m = _MAC_RE.search(text or "")
    if not m:
        return None, None
    lo, hi, kilo = m.group(1), m.group(2), m.group(3)
    shown = f"{lo}-{hi}{kilo.lower()}" if hi else f"{lo}{kilo.lower()}"
    return float(lo) * (1000.0 if kilo else 1.0), shown


def _curve_from_entry(name: str, entry: dict, source: str) -> Curve | None:
    res = entry.get("results", entry)
    bpp = _list(res, "bpp")
    psnr = _list(res, "psnr-rgb", "psnr_rgb", "psnr")
    if bpp is None or psnr is None or len(bpp) != len(psnr):
        log.warning("%s: no bpp/psnr-rgb lists, skipped", name)
        return None
    order = np.argsort(bpp)

    def sort(values: list[float] | None) -> list[float] | None:
        if values is None or len(values) != len(bpp):
            return None
        return [values[i] for i in order]

    description = str(entry.get("description", ""))
    mac = entry.get("decoder_mac_per_pixel")
    mac_text = None
    if not isinstance(mac, int | float) or isinstance(mac, bool):
        mac, mac_text = _mac_from_text(description)
    return Curve(
        name=str(entry.get("name", name)),
        bpp=sort(bpp) or [],
        psnr_rgb=sort(psnr) or [],
        description=description,
        source=source,
        psnr_yuv=sort(_list(res, "psnr-yuv", "psnr_yuv")),
        ms_ssim=sort(_list(res, "ms-ssim-rgb", "ms-ssim", "ms_ssim")),
        encode_s=sort(_list(res, "encoding_time", "encoding_time_s")),
        decode_s=sort(_list(res, "decoding_time", "decoding_time_s")),
        settings=[str(s) for s in sort(res.get("setting")) or []] or None,
        images=entry.get("images") if isinstance(entry.get("images"), int) else None,
        mac_per_pixel=None if mac is None else float(mac),
        mac_text=mac_text,
        version=entry.get("version") if isinstance(entry.get("version"), str) else None,
    )


def load_curve_file(path: str | os.PathLike[str], source: str = "published") -> list[Curve]:
    """Curves of a JSON file: the shared ``kodak.json`` (all its codecs) or a CompressAI file."""
    p = Path(path)
    data = json.loads(p.read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("codecs"), dict):
        n = data.get("images") if isinstance(data.get("images"), int) else None
        curves = [
            _curve_from_entry(k, {"name": k, "images": n, **v}, source)
            for k, v in data["codecs"].items()
        ]
    elif isinstance(data, dict) and "results" in data:
        curves = [_curve_from_entry(data.get("name", p.stem), data, source)]
    else:
        raise ValueError(f"{p}: neither a CompressAI result file nor an anchors file")
    return [c for c in curves if c is not None]


def load_per_image_table(path: str | os.PathLike[str]) -> PerImage:
    """Per-image anchor points from a CSV/TSV with ``image``, ``bpp`` and a PSNR-RGB column."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    delimiter = "\t" if "\t" in text.splitlines()[0] else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    fields = reader.fieldnames or []
    psnr_col = next(
        (c for c in ("psnr_rgb", "psnr_rgb_db", "psnr-rgb", "psnr") if c in fields), None
    )
    if "image" not in fields or "bpp" not in fields or psnr_col is None:
        raise ValueError(f"{p}: needs columns image, bpp and psnr_rgb")
    acc: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in reader:
        acc[image_key(row["image"])].append((float(row["bpp"]), float(row[psnr_col])))
    out: PerImage = {}
    for img, pts in acc.items():
        pts.sort()
        out[img] = ([a for a, _ in pts], [b for _, b in pts])
    return out
