"""Does a decoder trained on another photo make a better start than a random one?

A shipped prior for the networks (an initialisation and statistics to code the weights
against) pays only if per-image training, started from it, ends better or sooner and stays
near it. This probe tests the first half cheaply: one donor image is encoded (its trained
networks saved), then target images are encoded from a random start (``base``) and from the
donor's networks (``warm``; latents start as usual), same preset, quality and seeds. Each row
has the file's bytes and PSNR, ``J``, and how far the trained weights ended from the start
(``drift``: |w - w0| / |w| over the ARM's and the synthesis' weights) and what coding them as
differences from the start would take (``delta_bytes`` against ``plain_bytes``, exp-Golomb at
the module's step).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/warm_start_probe.py \\
        --donor dev21 --donor-preset default --images dev03,dev12,dev30 --preset fast --seeds 0,1
    python benchmarks/warm_start_probe.py --compare

``--net-lr-scale 0`` holds the networks at the donor's (the learning rate's floor, 1e-6, moves
them by ~0.4% of their norm): what a shipped, frozen set of networks would give; ``--compare``
then also gives those rows' rate without the weights' bytes.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from csv_rows import append_row, read_rows
from dev_probe import dev_image, git_commit

import lnic.encoder.encode as encode_module
from lnic.bitstream.container import unpack_file
from lnic.bitstream.weights import best_order, decode_weights
from lnic.encoder.encode import encode_array
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import QUALITY_LAMBDAS, Preset, get_preset
from lnic.encoder.quantize import _float_layers

HERE = Path(__file__).resolve().parent
OUT = HERE / "dev" / "warm_start.csv"
FIELDS = [
    "tag", "image", "quality", "seed", "preset", "donor", "bytes", "bpp", "psnr_rgb", "J",
    "weights_bytes", "drift", "plain_bytes", "delta_bytes", "seconds", "commit",
]  # fmt: skip
NETWORKS = ("arm", "upsampler", "synthesis")


def _networks(model: OverfittedCodec) -> dict[str, dict[str, torch.Tensor]]:
    return {n: {k: v.clone() for k, v in getattr(model, n).state_dict().items()} for n in NETWORKS}


def _preset(name: str, net_lr_scale: float) -> str | Preset:
    """The preset ``name`` with every phase's network learning rate scaled."""
    if net_lr_scale == 1.0:
        return name
    base = get_preset(name)
    phases = tuple(replace(p, net_lr=p.net_lr * net_lr_scale) for p in base.phases)
    return replace(base, phases=phases)


def _encode(rgb: np.ndarray, quality: int, preset: str | Preset, seed: int, start: dict | None):  # noqa: ANN202
    """An encode whose model starts from ``start``'s networks (None: the usual random start);
    returns the result and the model's networks as they were after their initialisation."""
    initial: dict = {}

    class Started(OverfittedCodec):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            if start is not None:
                for name in NETWORKS:
                    getattr(self, name).load_state_dict(start[name])
            initial["model"] = _networks(self)

    encode_module.OverfittedCodec = Started
    try:
        result = encode_array(rgb, quality, preset, seed=seed)
    finally:
        encode_module.OverfittedCodec = OverfittedCodec
    return result, initial["model"]


def _drift(result, rgb: np.ndarray, start: dict) -> dict:  # noqa: ANN001
    """Relative distance of the trained ARM and synthesis weights from ``start``, and their
    exp-Golomb bytes coded plainly and as differences (the synthesis pair unbalanced: both
    codes then see the same rescale, which quantize._balance applies to the trained pair)."""
    sections = unpack_file(result.bitstream)
    arch = sections.header.arch
    coded = decode_weights(sections.weights, arch.weight_shapes()).modules()
    model0 = OverfittedCodec(arch, rgb.shape[0], rgb.shape[1])
    for name in NETWORKS:
        getattr(model0, name).load_state_dict(start[name])
    w0s, ws = _float_layers(model0).modules(), _float_layers(result.model).modules()
    num = den = plain = delta = 0.0
    for name in ("arm", "synthesis"):
        for q, (w, _), (w0, _) in zip(coded[name], ws[name], w0s[name]):
            num += float(np.sum((w - w0) ** 2))
            den += float(np.sum(w**2))
            qw0 = np.round(w0 * 2.0**q.e_w).astype(np.int64).ravel()
            plain += best_order(q.weight.ravel())[1]
            delta += best_order(q.weight.ravel() - qw0)[1]
    return {"drift": round((num / den) ** 0.5, 4), "plain_bytes": round(plain / 8),
            "delta_bytes": round(delta / 8)}  # fmt: skip


def run(args: argparse.Namespace) -> None:
    done = {(r["tag"], r["image"], r["quality"], r["seed"], r["preset"], r["donor"])
            for r in read_rows(args.out)}  # fmt: skip
    donor_path = HERE / "dev" / f"warm_donor-{args.donor}-q{args.quality}-{args.donor_preset}.pt"
    if not donor_path.exists():
        t = time.time()
        result, _ = _encode(dev_image(args.donor), args.quality, args.donor_preset, 0, None)
        torch.save(_networks(result.model), donor_path)
        print(f"donor {args.donor}: {len(result.bitstream)} B in {time.time() - t:.0f} s")
    donor = torch.load(donor_path)
    donor_tag = f"{args.donor}-{args.donor_preset}"
    for seed in args.seeds.split(","):
        for image in args.images.split(","):
            warm_tag = "warm" if args.net_lr_scale == 1.0 else f"warm-netlr{args.net_lr_scale:g}"
            for tag in ("base", warm_tag):
                key = (tag, image, str(args.quality), seed, args.preset, donor_tag)
                if key in done:
                    continue
                rgb = dev_image(image)
                t = time.time()
                start, scale = (None, 1.0) if tag == "base" else (donor, args.net_lr_scale)
                preset = _preset(args.preset, scale)
                result, initial = _encode(rgb, args.quality, preset, int(seed), start)
                seconds = time.time() - t
                mse = float(np.mean((result.reconstruction.astype(np.float64) - rgb) ** 2))
                bpp = 8 * len(result.bitstream) / (rgb.shape[0] * rgb.shape[1])
                row = dict(zip(FIELDS[:6], key))
                row |= {"bytes": len(result.bitstream), "bpp": round(bpp, 6)}
                row |= {"psnr_rgb": round(10 * np.log10(255**2 / mse), 4)}
                row |= {"J": mse / 255**2 + QUALITY_LAMBDAS[args.quality] * bpp}
                row |= {"weights_bytes": result.section_bytes.get("weights", 0)}
                row |= _drift(result, rgb, initial)
                row |= {"seconds": round(seconds, 1), "commit": git_commit()}
                append_row(args.out, FIELDS, row)
                print(row, flush=True)


def compare(args: argparse.Namespace) -> None:
    pairs: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in read_rows(args.out):
        pairs[(r["image"], r["quality"], r["seed"], r["preset"], r["donor"])][r["tag"]] = r
    print("| image | q | seed | preset | donor | base B, dB | warm B, dB | rate at equal D | "
          "drift base / warm | weights as differences from the start (warm) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    gains: dict[str, list[float]] = defaultdict(list)
    rows = []
    for (image, q, seed, preset, donor), by in sorted(pairs.items()):
        for tag in sorted(set(by) - {"base"}):
            rows.append((image, q, seed, preset, donor, tag, by.get("base"), by[tag]))
    for image, q, seed, preset, donor, tag, a, b in rows:
        if a is None:
            continue
        gain = (float(b["J"]) - float(a["J"])) / QUALITY_LAMBDAS[int(q)] / float(a["bpp"])
        gains[f"{preset} {tag}"].append(gain)
        if tag.endswith("netlr0"):
            # Networks held at the donor's are what a shipped prior would be: none of their
            # bytes would be sent.
            pixels = 8 * float(b["bytes"]) / float(b["bpp"])
            shipped = 8 * int(b["weights_bytes"]) / pixels / float(a["bpp"])
            gains[f"{preset} {tag}, weights shipped"].append(gain - shipped)
        print(
            f"| {image} | {q} | {seed} | {preset} | {donor} {tag} | {a['bytes']}, "
            f"{float(a['psnr_rgb']):.3f} | {b['bytes']}, {float(b['psnr_rgb']):.3f} | "
            f"{gain:+.1%} | {a['drift']} / {b['drift']} | {b['plain_bytes']} -> "
            f"{b['delta_bytes']} B |"
        )
    for name, values in sorted(gains.items()):
        print(f"\n{name}: mean rate at equal distortion over {len(values)} pairs: "
              f"{np.mean(values):+.1%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--donor", default="dev21")
    parser.add_argument("--donor-preset", default="default")
    parser.add_argument("--images", default="dev03,dev12,dev30")
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument(
        "--net-lr-scale",
        type=float,
        default=1.0,
        help="scale the warm encodes' network learning rates (their rows are tagged with it)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--compare", action="store_true", help="print the comparison table")
    args = parser.parse_args()
    compare(args) if args.compare else run(args)


if __name__ == "__main__":
    main()
