"""Recipe probes on the development set (../shared/datasets/wiki-dev): one row per real encode.

Each row holds the file's size, PSNR-RGB and ``J = MSE + lambda * bpp`` of one encode (image,
quality, seed) with the lnic that is on ``PYTHONPATH``, tagged with the variant's name; finished
rows are skipped, so a killed run resumes. Variants are compared image by image at equal
(quality, seed): at the lambda-optimal point ``dD/dR = -lambda``, so ``dJ / lambda`` is the rate
(bpp) the variant saves at equal distortion, to first order::

    OMP_NUM_THREADS=1 PYTHONPATH=<variant checkout> nice -n 15 python benchmarks/dev_probe.py \\
        --tag NAME --images dev03,dev12,dev21,dev30 --qualities 4 --seeds 0,1 \\
        --out benchmarks/dev/probes.csv
    python benchmarks/dev_probe.py --compare base,NAME --out benchmarks/dev/probes.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from csv_rows import append_row, read_rows
from PIL import Image

from lnic.encoder.presets import QUALITY_LAMBDAS

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``$LNIC_SHARED`` or ``../shared``; no lnic helper, so older checkouts can be probed."""
    return Path(os.environ.get("LNIC_SHARED", ROOT.parent / "shared"))


def dev_image(name: str) -> np.ndarray:
    """The development-set photo ``name`` (e.g. ``dev03``) as an (H, W, 3) uint8 array."""
    path = shared_dir() / "datasets" / "wiki-dev" / f"{name}.png"
    return np.asarray(Image.open(path).convert("RGB"))


def git_commit() -> str:
    """The commit of the lnic that is imported (a probe runs another checkout's code)."""
    import subprocess

    import lnic

    where = Path(lnic.__file__).resolve().parent
    out = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


FIELDS = [
    "tag", "image", "quality", "seed", "preset", "bytes", "bpp", "psnr_rgb", "J", "seconds",
    "commit", "threads",
]  # fmt: skip


def _done(out: Path) -> set[tuple[str, ...]]:
    return {(r["tag"], r["image"], r["quality"], r["seed"], r["preset"]) for r in read_rows(out)}


def _architecture(spec: str | None, rgb: np.ndarray):  # noqa: ANN202 (older checkouts)
    """``--arch ARM_HIDDEN,ARM_LAYERS,SYNTH_HIDDEN`` as an Architecture for ``rgb``, or None."""
    if not spec:
        return None
    from lnic.model.architecture import Architecture
    from lnic.model.latents import num_levels

    arm_hidden, arm_layers, synth_hidden = (int(v) for v in spec.split(","))
    levels = num_levels(rgb.shape[0], rgb.shape[1])
    return Architecture(levels, arm_hidden, arm_layers, synth_hidden)


def _encode(
    rgb: np.ndarray,
    quality: int,
    seed: int,
    preset: str,
    arch: str | None,
    keep: Path | None,
    steps: int | None = None,
) -> dict:
    """One encode's row; ``keep``: also write its bitstream there; ``steps``: run exactly that
    many training steps (the preset's schedule stretched or shrunk)."""
    import lnic

    t = time.time()
    if arch or steps:
        from lnic.encoder.encode import encode_array

        result = encode_array(
            rgb, quality, preset, seed=seed, arch=_architecture(arch, rgb), steps=steps
        )
        data = result.bitstream
        print("sections:", result.section_bytes, flush=True)
    else:
        data = lnic.encode(rgb, quality=quality, preset=preset, seed=seed)
    seconds = time.time() - t
    if keep is not None:
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_bytes(data)
    mse = float(np.mean((lnic.decode(data).astype(np.float64) - rgb) ** 2))
    bpp = 8 * len(data) / (rgb.shape[0] * rgb.shape[1])
    return {
        "bytes": len(data),
        "bpp": round(bpp, 6),
        "psnr_rgb": round(10 * np.log10(255**2 / mse), 4),
        "J": mse / 255**2 + QUALITY_LAMBDAS[quality] * bpp,
        "seconds": round(seconds, 1),
    }


def run(args: argparse.Namespace) -> None:
    if not (shared_dir() / "datasets" / "wiki-dev").is_dir():
        raise SystemExit(f"no datasets/wiki-dev in {shared_dir()} (set LNIC_SHARED)")
    done = _done(args.out)
    for seed in args.seeds.split(","):
        for image in args.images.split(","):
            for quality in args.qualities.split(","):
                key = (args.tag, image, quality, seed, args.preset)
                if key in done:
                    continue
                rgb = dev_image(image)
                row = {"tag": args.tag, "image": image, "quality": quality, "seed": seed}
                row |= {"preset": args.preset, "commit": git_commit()}
                row |= {"threads": os.environ.get("OMP_NUM_THREADS", "")}
                keep = None
                if args.keep:
                    keep = args.keep / f"{args.tag}-{image}-q{quality}-s{seed}-{args.preset}.lnic"
                row |= _encode(
                    rgb, int(quality), int(seed), args.preset, args.arch, keep, args.steps
                )
                append_row(args.out, FIELDS, row)
                print(row, flush=True)


def compare(args: argparse.Namespace) -> None:
    base, variant = args.compare.split(",")
    rows: dict[tuple[str, ...], dict[str, dict]] = defaultdict(dict)
    with args.out.open() as fh:
        for r in csv.DictReader(fh):
            rows[(r["image"], r["quality"], r["seed"], r["preset"])][r["tag"]] = r
    print(f"| image | q | seed | {base} bytes, dB | {variant} bytes, dB | dJ | rate at equal D |")
    print("|---|---|---|---|---|---|---|")
    gains = []
    for (image, q, seed, _), by_tag in sorted(rows.items()):
        if base not in by_tag or variant not in by_tag:
            continue
        a, b = by_tag[base], by_tag[variant]
        d_j = float(b["J"]) - float(a["J"])
        gain = d_j / QUALITY_LAMBDAS[int(q)] / float(a["bpp"])
        gains.append(gain)
        print(
            f"| {image} | {q} | {seed} | {a['bytes']}, {float(a['psnr_rgb']):.3f} | "
            f"{b['bytes']}, {float(b['psnr_rgb']):.3f} | {d_j / float(a['J']):+.2%} | {gain:+.1%} |"
        )
    if gains:
        print(f"\nmean rate at equal distortion over {len(gains)} pairs: {np.mean(gains):+.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", default="base")
    parser.add_argument("--images", default="dev03,dev12,dev21,dev30")
    parser.add_argument("--qualities", default="4")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/dev/probes.csv"))
    parser.add_argument(
        "--arch",
        metavar="ARM_HIDDEN,ARM_LAYERS,SYNTH_HIDDEN",
        help="train this decoder instead of the encoder's choice (tag the variant accordingly)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        help="run exactly this many training steps (tag the variant accordingly)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="also keep each encode's bitstream in DIR (for studies of the coded networks and "
        "latents, e.g. re-coding them under another entropy model)",
    )
    parser.add_argument("--compare", metavar="BASE,VARIANT", help="print the comparison table")
    args = parser.parse_args()
    compare(args) if args.compare else run(args)


if __name__ == "__main__":
    main()
