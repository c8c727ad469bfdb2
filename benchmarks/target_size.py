"""Target size in one encode: how close ``--bpp`` / ``--size`` land, and what steering costs.

    nice -n 15 env OMP_NUM_THREADS=1 python benchmarks/target_size.py --preset fast
    nice -n 15 env OMP_NUM_THREADS=1 python benchmarks/target_size.py --preset default
    ... [--only curves|targets]                          # the plain or the steered encodes
    python benchmarks/target_size.py --report          # only rewrite target_size.md

Images: every sixth of the development set from dev01 (dev01, dev07, ..., dev31), 768x512, from
``$LNIC_SHARED`` or ``../shared``. With the fast preset each image is steered to 0.25 bpp
(``target_bpp``), 24,576 bytes (``target_bytes``: 0.5 bpp) and 1.0 bpp (``target_bpp``); with
the default preset the first two images to 0.5 bpp. Each steered point's rate gap is measured
at its PSNR against the same image's curve of plain ``quality`` encodes with the same preset
(log-rate interpolated over PSNR, piecewise cubic: :func:`lnic.bench.rate_gap`). The curve's
points are the quality table's lambdas, run from the middle outwards until the curve spans the
targets with a margin (lambdas beyond the table double or halve).

Every encode appends one row to ``benchmarks/target_size.csv`` as it ends, and a re-run skips
the rows that are there, so the run can be stopped and resumed.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from csv_rows import append_row, read_rows

from lnic.bench.provenance import git_commit

ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = ROOT / "benchmarks" / "target_size.csv"
MD_PATH = CSV_PATH.with_suffix(".md")

IMAGES = ("dev01", "dev07", "dev13", "dev19", "dev25", "dev31")
DEFAULT_PRESET_IMAGES = IMAGES[:2]
PIXELS_768x512 = 768 * 512


@dataclass(frozen=True)
class Target:
    """One steered encode's request: ``kind`` is ``bpp`` or ``bytes``."""

    kind: str
    value: float

    @property
    def bpp(self) -> float:
        return self.value if self.kind == "bpp" else 8.0 * self.value / PIXELS_768x512

    @property
    def label(self) -> str:
        return f"{self.kind}={self.value:g}"


TARGETS: dict[str, tuple[Target, ...]] = {
    "fast": (Target("bpp", 0.25), Target("bytes", 24576), Target("bpp", 1.0)),
    "default": (Target("bpp", 0.5),),
}
CURVE_MARGIN = 1.15
"""The quality curve spans [lowest target / margin, highest target * margin] in bpp."""

FIELDS = [
    "image",
    "preset",
    "kind",
    "setting",
    "target_bytes",
    "bytes",
    "bpp",
    "psnr_rgb",
    "lmbda",
    "steps",
    "encode_seconds",
    "commit",
    "bytes_from_lambda",
    "dead_zone",
]


def _image(name: str) -> np.ndarray:
    from PIL import Image

    from lnic.bench.data import default_dataset_dir

    kodak = default_dataset_dir()  # shared/datasets/kodak: wiki-dev sits beside it
    path = kodak.parent / "wiki-dev" / f"{name}.png" if kodak else None
    if path is None or not path.is_file():
        raise SystemExit("wiki-dev not found: put shared/ beside the checkout or set LNIC_SHARED")
    return np.asarray(Image.open(path).convert("RGB"))


def load_rows() -> list[dict[str, str]]:
    return read_rows(CSV_PATH)


def _find(rows, image: str, preset: str, kind: str, setting: str) -> dict[str, str] | None:
    for r in rows:
        if (r["image"], r["preset"], r["kind"], r["setting"]) == (image, preset, kind, setting):
            return r
    return None


class _SizeBeforeCorrection(logging.Handler):
    """Keeps the size a steered file had from lambda alone (the encoder logs it)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bytes: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if "from lambda alone" in record.msg and record.args:
            self.bytes = int(record.args[1])


def _encode(image: str, preset: str, kind: str, setting: str, **kwargs) -> dict[str, str]:
    from lnic.encoder.encode import encode_array

    t = time.perf_counter()
    encoder_log = logging.getLogger("lnic.encoder.encode")
    before = _SizeBeforeCorrection()
    encoder_log.addHandler(before)
    encoder_log.setLevel(logging.INFO)
    try:
        result = encode_array(_image(image), preset=preset, **kwargs)
    finally:
        encoder_log.removeHandler(before)
    summary = result.summary()
    row = {
        "image": image,
        "preset": preset,
        "kind": kind,
        "setting": setting,
        "target_bytes": summary.get("target_bytes") or "",
        "bytes": summary["bytes"],
        "bpp": f"{summary['bpp']:.6f}",
        "psnr_rgb": f"{summary['psnr_rgb']:.4f}",
        "lmbda": f"{summary['lmbda']:.6g}",
        "steps": summary.get("steps", ""),
        "encode_seconds": f"{time.perf_counter() - t:.1f}",
        "commit": git_commit()[:12],
        "bytes_from_lambda": before.bytes or "",
        "dead_zone": f"{result.dead_zone:.4f}" if kind == "target" else "",
    }
    append_row(CSV_PATH, FIELDS, row)
    print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return {k: str(v) for k, v in row.items()}


def _curve(rows, image: str, preset: str) -> list[dict[str, str]]:
    points = [r for r in rows if (r["image"], r["preset"], r["kind"]) == (image, preset, "lmbda")]
    return sorted(points, key=lambda r: float(r["bpp"]))


def _point(rows, image: str, preset: str, lmbda: float) -> dict[str, str]:
    setting = f"{lmbda:.6g}"
    row = _find(rows, image, preset, "lmbda", setting)
    if row is None:
        row = _encode(image, preset, "lmbda", setting, lmbda=lmbda)
        rows.append(row)
    return row


def ensure_curve(rows, image: str, preset: str, bpp_lo: float, bpp_hi: float) -> None:
    """Plain encodes from quality 3 down and quality 4 up until the curve spans the range."""
    from lnic.encoder.presets import QUALITY_LAMBDAS

    table = sorted(QUALITY_LAMBDAS.values(), reverse=True)  # quality 1 first
    lam = QUALITY_LAMBDAS[3]
    while float(_point(rows, image, preset, lam)["bpp"]) > bpp_lo / CURVE_MARGIN:
        i = table.index(lam) if lam in table else -1
        lam = table[i - 1] if i > 0 else 2.0 * lam
    lam = QUALITY_LAMBDAS[4]
    while float(_point(rows, image, preset, lam)["bpp"]) < bpp_hi * CURVE_MARGIN:
        i = table.index(lam) if lam in table else len(table)
        lam = table[i + 1] if i + 1 < len(table) else 0.5 * lam


def run(preset: str, curves: bool = True, targets: bool = True) -> None:
    rows = load_rows()
    images = IMAGES if preset == "fast" else DEFAULT_PRESET_IMAGES
    wanted = TARGETS[preset]
    if curves:
        lo, hi = min(t.bpp for t in wanted), max(t.bpp for t in wanted)
        for image in images:
            ensure_curve(rows, image, preset, lo, hi)
    if targets:
        for image in images:
            for target in wanted:
                if _find(rows, image, preset, "target", target.label) is None:
                    key = "target_bpp" if target.kind == "bpp" else "target_bytes"
                    value = target.value if target.kind == "bpp" else int(target.value)
                    rows.append(_encode(image, preset, "target", target.label, **{key: value}))


def _gap(rows, row: dict[str, str]) -> float:
    from lnic.bench import BDError, rate_gap

    curve = _curve(rows, row["image"], row["preset"])
    try:
        return rate_gap(
            [float(r["bpp"]) for r in curve],
            [float(r["psnr_rgb"]) for r in curve],
            float(row["bpp"]),
            float(row["psnr_rgb"]),
        )
    except BDError:
        return math.nan


def report() -> str:
    rows = load_rows()
    lines = [
        "# Target size in one encode",
        "",
        "Made by `benchmarks/target_size.py` (its docstring has the commands and the method);",
        "raw rows in `target_size.csv`. Size error: (file bytes - target bytes) / target bytes.",
        "Rate gap: percent more bits than the same image's curve of plain `--quality` encodes",
        "with the same preset, at the steered file's PSNR (nan: outside the curve). From lambda",
        "alone: the file before the rounding correction (`lnic/encoder/size_fit.py`, used only",
        "beyond 2.5% over; its dead zone in the next column).",
        "",
        "Single points are noisy: a plain encode of dev07 at lambda 0.0135 lies +3.1% off its",
        "own curve, one of dev13 at 0.00109 -0.2% (one seed each; seeds move a point by a few",
        "percent). An earlier controller (integral action on log lambda, gain 1, no restart)",
        "reached a similar size accuracy on 11 of these points (mean |error| 1.14%, worst 3.78%)",
        "but cost +5.6% of rate on average (worst +14.6%): lambda swung by up to 8x while the",
        "rate answered late. The committed one models that delay and, where its first",
        "measurement finds the first lambda guess more than 1.6x off, trains again from scratch.",
        "",
    ]
    for preset in ("fast", "default"):
        steered = [r for r in rows if r["preset"] == preset and r["kind"] == "target"]
        if not steered:
            continue
        lines += [
            f"## {preset} preset",
            "",
            "| image | target | target bytes | bytes | size error | from lambda alone | dead zone "
            "| PSNR | rate gap | lambda | steps | seconds |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        errors, gaps = [], []
        for r in steered:
            err = 100.0 * (int(r["bytes"]) / int(r["target_bytes"]) - 1.0)
            gap = _gap(rows, r)
            errors.append(err)
            gaps.append(gap)
            alone = r.get("bytes_from_lambda") or ""
            alone_err = (
                f"{100.0 * (int(alone) / int(r['target_bytes']) - 1.0):+.2f}%" if alone else ""
            )
            lines.append(
                f"| {r['image']} | {r['setting']} | {r['target_bytes']} | {r['bytes']} "
                f"| {err:+.2f}% | {alone_err} | {r.get('dead_zone') or ''} "
                f"| {float(r['psnr_rgb']):.3f} | {gap:+.2f}% "
                f"| {float(r['lmbda']):.5g} | {r['steps']} | {r['encode_seconds']} |"
            )
        finite = [g for g in gaps if math.isfinite(g)]
        abs_err = [abs(e) for e in errors]
        lines += [
            "",
            f"{len(steered)} points: size error mean |e| {np.mean(abs_err):.2f}%, "
            f"worst {max(abs_err):.2f}% (signed mean {np.mean(errors):+.2f}%); rate gap mean "
            f"{np.mean(finite) if finite else math.nan:+.2f}%, worst "
            f"{max(finite) if finite else math.nan:+.2f}% ({len(finite)} of {len(gaps)} inside "
            "their curve).",
            "",
        ]
        curves = sorted({(r["image"]) for r in rows if r["preset"] == preset})
        lines.append(
            f"Curves ({preset}): "
            + "; ".join(
                f"{im}: "
                + ", ".join(
                    f"{float(r['bpp']):.3f} bpp / {float(r['psnr_rgb']):.2f} dB"
                    for r in _curve(rows, im, preset)
                )
                for im in curves
            )
        )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(TARGETS), default="fast")
    parser.add_argument("--only", choices=("curves", "targets"), help="one part of the run")
    parser.add_argument("--report", action="store_true", help="only rewrite the markdown")
    args = parser.parse_args()
    if not args.report:
        run(args.preset, curves=args.only != "targets", targets=args.only != "curves")
    MD_PATH.write_text(report())


if __name__ == "__main__":
    main()
