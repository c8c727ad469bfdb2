"""Does a short trial fit tell which photos the finest-grid trap catches?

The finest-grid rule (``lnic/encoder/finest_grid.py``) decides from the image's detail alone,
and that misses photos: at quality 4 the painting dev20 and the mascot dev30 need 12-17% fewer
bits with the finest grid left empty, while the balloons dev12, with a smaller detail, need
4-16% more (benchmarks/ablation.md). This probe runs the default preset's schedule both ways
(the grid trained, and left empty) for the first steps only and prints the hard-rounded loss
``J = MSE + lambda * bpp`` (straight-through forward, the ARM's rate of the rounded latents) at
a few checkpoints, so that the early ordering can be set beside the full encodes' outcome::

    OMP_NUM_THREADS=1 python benchmarks/finest_grid_trial.py --images dev12,dev20 --quality 4 \\
        --at 200,400,800 --out benchmarks/dev/finest_grid_trial.jsonl

One JSON line per (image, quality, seed, variant) with the loss terms at each checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from dev_probe import dev_image, git_commit
from recipe_probe import override

from lnic.encoder import fitting, train
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import PRESETS, QUALITY_LAMBDAS
from lnic.encoder.sizing import choose_architecture


class _Stop(Exception):
    """Raised by the progress callback once the last checkpoint is measured."""


def trial(rgb: np.ndarray, quality: int, seed: int, left: bool, at: list[int]) -> dict:
    """The hard-rounded loss terms at the steps ``at`` of the default preset's schedule, with
    the finest grid trained (``left`` False) or left empty."""
    h, w = rgb.shape[:2]
    lmbda = QUALITY_LAMBDAS[quality]
    target = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)
    torch.manual_seed(seed)
    model = OverfittedCodec(choose_architecture(h, w), h, w)
    preset = override(PRESETS["default"], [f"noise.finest_grid_ratio={1e9 if left else 0.0}"])
    points: dict[int, dict[str, float]] = {}

    def progress(done: int, _total: int, _stats: dict[str, float]) -> None:
        if done in at:
            with torch.no_grad():
                loss, mse, bpp = train._loss(model, target, torch.tensor(lmbda), None)
            points[done] = {"J": float(loss), "mse": float(mse), "bpp": float(bpp)}
            if done == max(at):
                raise _Stop

    try:
        fitting.fit(model, target, lmbda, preset, progress)
    except _Stop:
        pass
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True)
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--at", default="200,400,800")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--dataset",
        default="wiki-dev",
        help="folder of shared/datasets holding the images (kodak: to check a rule chosen on "
        "the development set against the record's rows, never to choose one)",
    )
    args = parser.parse_args()
    at = [int(v) for v in args.at.split(",")]
    for seed in (int(s) for s in args.seeds.split(",")):
        for image in args.images.split(","):
            rgb = dev_image(image, args.dataset)
            for left in (False, True):
                t = time.time()
                points = trial(rgb, args.quality, seed, left, at)
                row = {
                    "image": image, "dataset": args.dataset, "quality": args.quality, "seed": seed,
                    "finest_grid": "left" if left else "trained", "points": points,
                    "seconds": round(time.time() - t, 1), "commit": git_commit(),
                    "threads": os.environ.get("OMP_NUM_THREADS", ""),
                }  # fmt: skip
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
