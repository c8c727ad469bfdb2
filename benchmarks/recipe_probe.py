"""Probe a training-recipe change quickly: encode a Kodak crop with preset overrides.

    OMP_NUM_THREADS=1 python benchmarks/recipe_probe.py --image kodim23 --crop 100,200,256 \
        --preset fast --quality 4 --set lr=0.05 --set net_lr=0.01

Full images (``--crop full``), other seeds (``--seed``) and network widths (``--arm-hidden``,
``--synth-hidden``) reproduce the session-6 runs of ``training_notes.md``, e.g.

    OMP_NUM_THREADS=1 python benchmarks/recipe_probe.py --image kodim01 --crop full \
        --preset default --quality 4 --set noise_steps=925 --set ste_steps=10

Prints the real file's bpp and PSNR and ``J = MSE + lambda * bpp`` (MSE of 0..1 images), the
quantity the encoder minimises, so two recipes compare on one number. A 256x256 crop takes one
or two minutes. Session 6's commands in ``training_notes.md`` carry ``--set compile=true``: that
preset field is gone since session 7 (training is always eager); drop it to re-run them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--image", default="kodim23")
    ap.add_argument("--crop", default="100,200,256", help="top,left,size, or 'full'")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--set", action="append", default=[], help="preset field=value")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arm-hidden", type=int, default=None, help="ARM width (default: 16)")
    ap.add_argument("--synth-hidden", type=int, default=None, help="synthesis width (default: 40)")
    args = ap.parse_args()

    from PIL import Image

    from lnic.encoder.encode import encode_array
    from lnic.encoder.presets import PRESETS, QUALITY_LAMBDAS
    from lnic.model.architecture import Architecture
    from lnic.model.latents import num_levels

    rgb = np.asarray(Image.open(SHARED / "datasets" / "kodak" / f"{args.image}.png").convert("RGB"))
    if args.crop == "full":
        crop = rgb
    else:
        top, left, size = (int(v) for v in args.crop.split(","))
        crop = np.ascontiguousarray(rgb[top : top + size, left : left + size])
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    preset = dataclasses.replace(PRESETS[args.preset], **overrides)
    widths = {
        k: v
        for k, v in (("arm_hidden", args.arm_hidden), ("synth_hidden", args.synth_hidden))
        if v is not None
    }
    arch = Architecture(levels=num_levels(*crop.shape[:2]), **widths) if widths else None
    r = encode_array(crop, quality=args.quality, preset=preset, seed=args.seed, arch=arch)
    mse = 10 ** (-r.psnr_rgb / 10)
    print(
        json.dumps(
            {
                "image": args.image,
                "crop": args.crop,
                "preset": args.preset,
                "quality": args.quality,
                "overrides": overrides,
                "seed": args.seed,
                **widths,
                "bytes": len(r.bitstream),
                "weight_bytes": r.section_bytes["weights"],
                "bpp": round(r.bpp, 4),
                "psnr_rgb": round(r.psnr_rgb, 3),
                "J": round(mse + QUALITY_LAMBDAS[args.quality] * r.bpp, 6),
                "encode_s": round(r.encode_seconds, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
