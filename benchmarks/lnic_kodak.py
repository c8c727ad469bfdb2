"""Rate-distortion of lnic on Kodak images: one CSV row per (image, quality), resumable.

Each row comes from a real encode (``lnic.encoder.encode.encode_array``, which decodes its own
file), a real file size and a separate timed decode. Re-running skips rows already present, so
the measurement can run in the background across sessions::

    nohup python benchmarks/lnic_kodak.py --images kodim01,kodim05,kodim14,kodim23 \
        --qualities 2,3,4,5 --preset default &

then ``python benchmarks/lnic_kodak.py --summary`` prints the per-image BD-rates against
Cool-chic 5.0's and VTM-23.13's per-image points.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from lnic.bench.results import Result, ResultsFile, load_results

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
COLUMNS = (
    "image",
    "codec",
    "setting",
    "width",
    "height",
    "bytes",
    "bpp",
    "psnr_rgb",
    "encode_s",
    "decode_s",
)


def measure(image: str, quality: int, preset: str, save_model: Path | None = None) -> Result:
    from PIL import Image

    from lnic.decoder import decode_bytes
    from lnic.encoder.encode import encode_array, psnr

    rgb = np.asarray(Image.open(SHARED / "datasets" / "kodak" / f"{image}.png").convert("RGB"))
    result = encode_array(rgb, quality=quality, preset=preset)
    if save_model is not None:  # the trained float model, to re-run post-training steps on
        import torch

        save_model.mkdir(parents=True, exist_ok=True)
        torch.save(result.model.state_dict(), save_model / f"{image}-q{quality}.pt")
    t = time.perf_counter()
    decoded = decode_bytes(result.bitstream)
    decode_s = time.perf_counter() - t
    h, w = rgb.shape[:2]
    return Result(
        image=image,
        codec=f"lnic-{preset}",
        setting=f"q{quality}",
        width=w,
        height=h,
        bytes=len(result.bitstream),
        bpp=8 * len(result.bitstream) / (w * h),
        psnr_rgb=psnr(decoded, rgb),
        encode_s=result.encode_seconds,
        decode_s=decode_s,
    )


ANCHORS = {
    "coolchic5": "kodak-coolchic5-per-image.tsv",
    "vtm": "kodak-vtm23-per-image.csv",
}
"""Per-image anchor tables in ``../shared/anchors`` that the summary compares against."""


def _mean(values: list[float]) -> str:
    return f"**{np.mean(values):+.1f}%**" if values else "n/a"


def summary(path: Path, codec: str) -> str:
    """Markdown: per-image BD-rates of ``codec``'s rows, then each point's gap to Cool-chic 5.0."""
    from lnic.bench import BDError, bd_rate, rate_gap
    from lnic.bench.curves import load_per_image_table, per_image_points

    ours = per_image_points(load_results(path)).get(codec, {})
    anchors = {k: load_per_image_table(SHARED / "anchors" / f) for k, f in ANCHORS.items()}
    lines = [
        "| image | points | BD-rate vs Cool-chic 5.0 | BD-rate vs VTM-23.13 |",
        "|---|---|---|---|",
    ]
    means: dict[str, list[float]] = {"coolchic5": [], "vtm": []}
    gaps = []
    for image in sorted(ours):
        b, p = ours[image]
        cells = []
        for kind in ("coolchic5", "vtm"):
            ab, ap = anchors[kind][image]
            try:
                v = bd_rate(ab, ap, b, p)
            except BDError:  # fewer than two points, or no overlap
                v = float("nan")
            if np.isfinite(v):
                means[kind].append(v)
            cells.append(f"{v:+.1f}%" if np.isfinite(v) else "n/a")
        lines.append(f"| {image} | {len(b)} | {cells[0]} | {cells[1]} |")
        cb, cp = anchors["coolchic5"][image]
        for bpp, psnr in sorted(zip(b, p)):
            try:
                gap = f"{rate_gap(cb, cp, bpp, psnr):+.1f}%"
            except BDError:
                gap = "outside Cool-chic's range"
            gaps.append(f"| {image} | {bpp:.4f} | {psnr:.2f} | {gap} |")
    lines.append(f"| **mean** | | {_mean(means['coolchic5'])} | {_mean(means['vtm'])} |")
    lines += [
        "",
        "| image | bpp | PSNR-RGB | rate vs Cool-chic 5.0 at equal PSNR |",
        "|---|---|---|---|",
        *gaps,
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--images", default="kodim01,kodim05,kodim14,kodim23")
    ap.add_argument("--qualities", default="2,3,4,5")
    ap.add_argument("--preset", default="default")
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "kodak" / "lnic.csv"))
    ap.add_argument("--summary", action="store_true", help="print per-image BD-rates and exit")
    ap.add_argument(
        "--save-models",
        type=Path,
        default=None,
        help="also save each trained float model (state dict) in this folder",
    )
    args = ap.parse_args()
    out = Path(args.output)
    if args.summary:
        print(summary(out, f"lnic-{args.preset}"))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results = ResultsFile(out, COLUMNS)
    done = results.done_keys()
    for image in args.images.split(","):
        for q in (int(v) for v in args.qualities.split(",")):
            if (image, f"lnic-{args.preset}", f"q{q}") in done:
                continue
            row = measure(image, q, args.preset, args.save_models)
            results.append(row)
            logging.info("%s", row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
