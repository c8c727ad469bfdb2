"""Probe a training-recipe change quickly: encode a Kodak crop with preset overrides.

    OMP_NUM_THREADS=1 python benchmarks/recipe_probe.py --image kodim23 --crop 100,200,256 \
        --preset fast --quality 4 --set noise.lr=0.05 --set noise.net_lr=0.01

``--set PHASE.FIELD=VALUE`` replaces a field of one of the preset's phases
(:class:`lnic.encoder.phases.NoisePhase` is ``noise``, ``StraightThroughPhase`` is ``ste``);
VALUE is JSON. A bare FIELD names the noise phase's field, and ``noise_steps``, ``ste_steps``
and ``ste_lr`` name the steps and the learning rate of their phase, so the commands of
``training_notes.md`` run as written where they set fields the phases have. Full images
(``--crop full``), other seeds (``--seed``) and network widths (``--arm-hidden``,
``--synth-hidden``) are probed too, e.g.

    OMP_NUM_THREADS=1 python benchmarks/recipe_probe.py --image kodim01 --crop full \
        --preset default --quality 4 --set noise_steps=925 --set ste_steps=10

Prints the real file's bpp and PSNR and ``J = MSE + lambda * bpp`` (MSE of 0..1 images), the
quantity the encoder minimises, so two recipes compare on one number, with the commit and the
phases that ran. A 256x256 crop takes one or two minutes. The images are looked up in
``$LNIC_SHARED`` or ``../shared``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lnic.bench.provenance import git_commit

if TYPE_CHECKING:
    from lnic.encoder.presets import Preset

ROOT = Path(__file__).resolve().parents[1]

SHORT_NAMES = {"noise_steps": "noise.steps", "ste_steps": "ste.steps", "ste_lr": "ste.lr"}
"""``--set`` names that are not ``PHASE.FIELD``; any other bare name is ``noise.FIELD``."""


def override(preset: Preset, settings: list[str]) -> Preset:
    """``preset`` with each ``KEY=VALUE`` of ``settings`` applied to its phases."""
    changes: dict[str, dict[str, object]] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        key = SHORT_NAMES.get(key, key if "." in key else f"noise.{key}")
        phase, _, name = key.partition(".")
        changes.setdefault(phase, {})[name] = json.loads(value)
    unknown = set(changes) - {p.key for p in preset.phases}
    if unknown:
        raise ValueError(f"--set: the preset has no phase {', '.join(sorted(unknown))}")
    phases = tuple(dataclasses.replace(p, **changes.get(p.key, {})) for p in preset.phases)
    return dataclasses.replace(preset, phases=phases)


def _crop(rgb: np.ndarray, crop: str) -> np.ndarray:
    if crop == "full":
        return rgb
    top, left, size = (int(v) for v in crop.split(","))
    return np.ascontiguousarray(rgb[top : top + size, left : left + size])


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--image", default="kodim23")
    ap.add_argument("--crop", default="100,200,256", help="top,left,size, or 'full'")
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--set", action="append", default=[], help="PHASE.FIELD=VALUE (JSON)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arm-hidden", type=int, default=None, help="ARM width (default: 16)")
    ap.add_argument("--synth-hidden", type=int, default=None, help="synthesis width (default: 40)")
    args = ap.parse_args()

    from PIL import Image

    from lnic.bench.data import default_dataset_dir
    from lnic.encoder.encode import encode_array
    from lnic.encoder.presets import QUALITY_LAMBDAS, get_preset
    from lnic.model.architecture import Architecture
    from lnic.model.latents import num_levels

    kodak = default_dataset_dir()
    if kodak is None:
        ap.error(
            "the Kodak images were not found: put shared/ beside the checkout or set LNIC_SHARED"
        )
    crop = _crop(np.asarray(Image.open(kodak / f"{args.image}.png").convert("RGB")), args.crop)
    try:
        preset = override(get_preset(args.preset), args.set)
    except (ValueError, TypeError) as exc:  # TypeError: a field the phase does not have
        ap.error(str(exc))
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
                "commit": git_commit(),
                "preset": preset.record(),
                "quality": args.quality,
                "overrides": args.set,
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
