"""Probe a training-recipe change quickly: encode a Kodak crop with preset overrides.

    OMP_NUM_THREADS=1 python benchmarks/recipe_probe.py --image kodim23 --crop 100,200,256 \
        --preset fast --quality 4 --set lr=0.05 --set net_lr=0.01

Prints the real file's bpp and PSNR and ``J = MSE + lambda * bpp`` (MSE of 0..1 images), the
quantity the encoder minimises, so two recipes compare on one number. Crops train eagerly
(no compile) so a probe takes one or two minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default="kodim23")
    ap.add_argument("--crop", default="100,200,256", help="top,left,size")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--set", action="append", default=[], help="preset field=value")
    args = ap.parse_args()

    from PIL import Image

    from lnic.encoder.encode import encode_array
    from lnic.encoder.presets import PRESETS, QUALITY_LAMBDAS

    top, left, size = (int(v) for v in args.crop.split(","))
    rgb = np.asarray(Image.open(SHARED / "datasets" / "kodak" / f"{args.image}.png").convert("RGB"))
    crop = np.ascontiguousarray(rgb[top : top + size, left : left + size])
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    preset = dataclasses.replace(PRESETS[args.preset], compile=False, **overrides)
    r = encode_array(crop, quality=args.quality, preset=preset)
    mse = 10 ** (-r.psnr_rgb / 10)
    print(json.dumps({
        "image": args.image, "crop": args.crop, "preset": args.preset, "quality": args.quality,
        "overrides": overrides, "bpp": round(r.bpp, 4), "psnr_rgb": round(r.psnr_rgb, 3),
        "J": round(mse + QUALITY_LAMBDAS[args.quality] * r.bpp, 6),
        "encode_s": round(r.encode_seconds, 1),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
