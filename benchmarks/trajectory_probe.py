"""Where a longer schedule gains: the training trajectory of one dev-set encode, grid by grid.

Trains one development-set photo as the encoder does (same seed, model and preset; the float
model only, no file) and every ``--every`` steps records the hard-rounded state: the MSE of the
synthesis on the rounded latents, each grid's bits under the float ARM and its share of
non-zero latents. Comparing a run of the default preset with a stretched one (``--steps``)
shows which grids' rate, or which part of the error, the extra steps buy::

    OMP_NUM_THREADS=1 python benchmarks/trajectory_probe.py --image dev14 --quality 4
    OMP_NUM_THREADS=1 python benchmarks/trajectory_probe.py --image dev14 --quality 4 --steps 10000
    python benchmarks/trajectory_probe.py --show dev14

Rows go to ``benchmarks/dev/trajectories.jsonl`` (one JSON object per record point).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from dev_probe import dev_image, git_commit
from recipe_probe import override

from lnic.encoder.fitting import fit
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.nets.entropy import laplace_bits
from lnic.encoder.presets import QUALITY_LAMBDAS, get_preset
from lnic.encoder.sizing import choose_architecture

OUT = Path(__file__).resolve().parent / "dev" / "trajectories.jsonl"


def fit_start(image: str, seed: int) -> tuple[torch.Tensor, OverfittedCodec]:
    """The target [3, H, W] in 0..1 and the fresh model of dev photo ``image`` that the encoder
    would train from with ``seed``."""
    rgb = dev_image(image)
    h, w = rgb.shape[:2]
    target = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)
    torch.manual_seed(seed)
    return target, OverfittedCodec(choose_architecture(h, w), h, w)


@torch.no_grad()
def snapshot(model: OverfittedCodec, target: torch.Tensor) -> dict[str, object]:
    """The hard-rounded state: MSE, bits per grid (float ARM), non-zero share per grid."""
    grids = [torch.round(g) for g in model.latents.grids]
    recon, _ = model(grids, grids)
    mse = float(torch.mean((recon.clamp(0, 1) - target) ** 2))
    mu, log_scale = model.arm.forward_grids(grids)
    flat = torch.cat([g.reshape(-1) for g in grids])
    bits = laplace_bits(flat, mu, log_scale)
    per_grid = torch.split(bits, [g.numel() for g in grids])
    return {
        "mse": mse,
        "bits": [float(b.sum()) for b in per_grid],
        "nonzero": [float((g != 0).float().mean()) for g in grids],
    }


def run(args: argparse.Namespace) -> None:
    target, model = fit_start(args.image, args.seed)
    h, w = target.shape[1:]
    preset = get_preset(args.preset)
    if args.set:
        preset = override(preset, args.set)
    if args.steps:
        preset = preset.with_steps(args.steps)
    lam = QUALITY_LAMBDAS[args.quality]
    tag = args.tag or f"{args.preset}-{preset.scaled(h * w).steps}"
    base = {"tag": tag, "image": args.image, "quality": args.quality, "seed": args.seed}
    base |= {"commit": git_commit()}
    started = time.time()

    def progress(done: int, total: int, stats: dict[str, float]) -> None:
        if done % args.every and done != total:
            return
        row = base | {"step": done, "of": total, "frac": done / total}
        row |= {"proxy_mse": stats["mse"], "proxy_bpp": stats["bpp"]}
        row |= snapshot(model, target) | {"seconds": round(time.time() - started, 1)}
        row["bpp"] = sum(row["bits"]) / (h * w)
        row["J"] = row["mse"] + lam * row["bpp"]
        with args.out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"{done}/{total} J {row['J']:.6g} bpp {row['bpp']:.4f} mse {row['mse']:.3g}")

    fit(model, target, lam, preset, progress)


def show(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for line in args.out.open()]
    rows = [r for r in rows if r["image"] == args.show]
    for tag in dict.fromkeys(r["tag"] for r in rows):
        runs = [r for r in rows if r["tag"] == tag]
        print(f"\n{tag} (seed, quality: {runs[0]['seed']}, {runs[0]['quality']})")
        print("frac   J         bpp     PSNR   bpp per grid (finest first)")
        nearest = {min(runs, key=lambda r: abs(r["frac"] - t / 10))["step"] for t in range(1, 11)}
        for r in (r for r in runs if r["step"] in nearest):
            pixels = sum(r["bits"]) / r["bpp"]
            grid_bpp = " ".join(f"{b / pixels:.4f}" for b in r["bits"])
            psnr = -10 * np.log10(r["mse"])
            print(f"{r['frac']:.2f}  {r['J']:.6g}  {r['bpp']:.4f}  {psnr:.2f}  {grid_bpp}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", default="dev14")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--set", action="append", default=[], metavar="PHASE.FIELD=VALUE")
    ap.add_argument("--tag")
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--show", metavar="IMAGE", help="print the recorded trajectories of IMAGE")
    args = ap.parse_args()
    show(args) if args.show else run(args)


if __name__ == "__main__":
    main()
