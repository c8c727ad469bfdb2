"""Recipe probes on the development set (../shared/datasets/wiki-dev): one row per real encode.

Each row holds the file's size, PSNR-RGB and ``J = MSE + lambda * bpp`` of one encode (image,
quality, seed) with the lnic that is on ``PYTHONPATH``, tagged with the variant's name; finished
rows are skipped, so a killed run resumes. Variants are compared image by image at equal
(quality, seed): at the lambda-optimal point ``dD/dR = -lambda``, so ``dJ / lambda`` is the rate
(bpp) the variant saves at equal distortion, to first order::

    OMP_NUM_THREADS=1 PYTHONPATH=<variant checkout> nice -n 15 python benchmarks/dev_probe.py \\
        --tag NAME --images dev03,dev12,dev21,dev30 --qualities 4 --seeds 0,1 \\
        --out benchmarks/dev/probes.csv
    OMP_NUM_THREADS=1 python benchmarks/dev_probe.py --tag NAME --set noise.rate_boost=3  # a knob
    python benchmarks/dev_probe.py --compare base,NAME --out benchmarks/dev/probes.csv
"""

from __future__ import annotations

import argparse
import csv
import logging
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


def dev_image(name: str, dataset: str = "wiki-dev") -> np.ndarray:
    """The development-set photo ``name`` (e.g. ``dev03``) as an (H, W, 3) uint8 array, or
    the image ``name`` of another folder of ``shared/datasets`` (``dataset``)."""
    path = shared_dir() / "datasets" / dataset / f"{name}.png"
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
    settings: list[str] | None = None,
) -> dict:
    """One encode's row; ``keep``: also write its bitstream there; ``steps``: run exactly that
    many training steps (the preset's schedule stretched or shrunk); ``settings``: the preset's
    phases changed as ``recipe_probe.py --set`` changes them."""
    import lnic

    t = time.time()
    if arch or steps or settings:
        from lnic.encoder.encode import encode_array

        chosen = preset
        if settings:
            from recipe_probe import override

            from lnic.encoder.presets import get_preset

            chosen = override(get_preset(preset), settings)
        result = encode_array(
            rgb, quality, chosen, seed=seed, arch=_architecture(arch, rgb), steps=steps
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


def split_seeds(noise_seed: int) -> None:
    """Make each model the encoder builds start its networks from its own seed, as always, but
    reseed torch's generator with ``noise_seed`` right after, so that the training's random
    draws no longer follow the networks' seed (``--noise-seed``). Both seeds equal still differ
    from a plain encode, whose draws continue the stream that made the networks."""
    import torch

    from lnic.encoder import encode

    made = encode._seeded_model

    def seeded(arch, height, width, seed):  # noqa: ANN001, ANN202 (the encoder's signature)
        model = made(arch, height, width, seed)
        torch.manual_seed(noise_seed)
        return model

    encode._seeded_model = seeded


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
                    rgb,
                    int(quality),
                    int(seed),
                    args.preset,
                    args.arch,
                    keep,
                    args.steps,
                    args.set,
                )
                append_row(args.out, FIELDS, row)
                print(row, flush=True)


def compare(args: argparse.Namespace) -> None:
    base, variant = args.compare.split(",")
    rows: dict[tuple[str, ...], dict[str, dict]] = defaultdict(dict)
    with args.out.open() as fh:
        for r in csv.DictReader(fh):
            rows[(r["image"], r["quality"], r["seed"], r["preset"])][r["tag"]] = r
    print(
        f"| image | q | seed | {base} bytes, dB | {variant} bytes, dB | dJ | rate at equal D "
        "| rate at equal PSNR (log model) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    gains, model_gains = [], []
    for (image, q, seed, _), by_tag in sorted(rows.items()):
        if base not in by_tag or variant not in by_tag:
            continue
        a, b = by_tag[base], by_tag[variant]
        lmbda = QUALITY_LAMBDAS[int(q)]
        d_j = float(b["J"]) - float(a["J"])
        gain = d_j / lmbda / float(a["bpp"])
        model_gain = log_model_rate_gap(a, b, lmbda)
        gains.append(gain)
        model_gains.append(model_gain)
        print(
            f"| {image} | {q} | {seed} | {a['bytes']}, {float(a['psnr_rgb']):.3f} | "
            f"{b['bytes']}, {float(b['psnr_rgb']):.3f} | {d_j / float(a['J']):+.2%} | {gain:+.1%} "
            f"| {model_gain:+.1%} |"
        )
    if gains:
        print(f"\nmean rate at equal distortion over {len(gains)} pairs: {np.mean(gains):+.1%}")
        print(f"mean rate at equal PSNR, log model: {np.mean(model_gains):+.1%}")


def log_model_rate_gap(base: dict, variant: dict, lmbda: float) -> float:
    """The variant's rate at the base's PSNR, as a share of the base's, on a local model of the
    base's curve: PSNR linear in log(bpp) (Bjontegaard's axes), with the slope that makes the
    base point lambda-optimal (``dMSE/dbpp = -lambda``, MSE of 0..1 images).

    ``dJ / lambda`` is exact to first order only while the variant stays near the base's rate; a
    recipe that moves the operating point (a lambda schedule, say) is judged by it as if the
    move itself cost rate. The log model follows the curve instead: ``PSNR = P0 + k ln(R / R0)``
    with ``k = 10 lambda R0 / (MSE0 ln 10)``. The slope grows with the rate (on the Kodak rows
    of ``kodak/lnic.csv`` the secant between q3 and q5 lies between the two ends' lambda-slopes,
    4.6 against 4.2 and 5.75 dB per e-fold), so for a variant at a lower rate the model's slope is
    a little too steep and the gain it reports a little too large (about a tenth of it for a
    variant 20% lower in rate).
    """
    r0, p0 = float(base["bpp"]), float(base["psnr_rgb"])
    r1, p1 = float(variant["bpp"]), float(variant["psnr_rgb"])
    mse0 = 10 ** (-p0 / 10)
    k = 10 * lmbda * r0 / (mse0 * np.log(10))
    base_rate_at_p1 = r0 * np.exp((p1 - p0) / k)
    return r1 / base_rate_at_p1 - 1


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
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PHASE.FIELD=VALUE",
        help="change a field of the preset's phases, as recipe_probe.py --set does "
        "(e.g. noise.rate_boost=3; tag the variant accordingly)",
    )
    parser.add_argument(
        "--noise-seed",
        type=int,
        metavar="N",
        help="the networks start from the row's seed and the training's random draws (the "
        "proxy's noise) come from N, to tell which of the two a seed's result follows; needs "
        "--set noise.start_race_share=0 (a race's rival would draw the same noise)",
    )
    parser.add_argument("--compare", metavar="BASE,VARIANT", help="print the comparison table")
    args = parser.parse_args()
    if args.noise_seed is not None:
        if "noise.start_race_share=0" not in args.set:
            parser.error("--noise-seed needs --set noise.start_race_share=0")
        split_seeds(args.noise_seed)
    # the encoder's choices (the finest grid's rule and trial) go to the probe's log
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("lnic.encoder.train").setLevel(logging.INFO)
    compare(args) if args.compare else run(args)


if __name__ == "__main__":
    main()
