"""Encoder speed: seconds per training step, and per preset the encode time and RD point reached.

    OMP_NUM_THREADS=2 python benchmarks/encode_speed.py --steps-only        # step timings
    python benchmarks/encode_speed.py --image kodim01 --presets fast,default --quality 4

Results are appended to ``benchmarks/encode_speed.json`` (one record per run, with the machine
and thread count); the rate gap is measured against Cool-chic 5.0's per-image curve at equal
PSNR (log-rate interpolated over PSNR, piecewise cubic).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
OUT = ROOT / "benchmarks" / "encode_speed.json"


def _image(name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(SHARED / "datasets" / "kodak" / f"{name}.png").convert("RGB"))


def step_timings(image: np.ndarray, steps: int = 6) -> dict[str, float]:
    """Median seconds of one training step (forward + backward + Adam), eager and compiled."""
    import torch

    from lnic.encoder.nets.codec import OverfittedCodec
    from lnic.encoder.train import _loss
    from lnic.model.architecture import Architecture
    from lnic.model.latents import num_levels

    h, w = image.shape[:2]
    target = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / 255.0)
    out = {}
    for mode in ("eager", "compiled"):
        torch.manual_seed(0)
        model = OverfittedCodec(Architecture(levels=num_levels(h, w)), h, w)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        fn = torch.compile(_loss, dynamic=False) if mode == "compiled" else _loss
        args = (torch.tensor(0.0025), torch.tensor(0.2), torch.tensor(0.0))
        t = time.perf_counter()
        fn(model, target, *args)[0].backward()  # warm-up (compiles)
        out[f"{mode}_first_step_s"] = time.perf_counter() - t
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            loss = fn(model, target, *args)[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t)
        out[f"{mode}_step_s"] = float(np.median(times))
    return out


def rate_gap_vs_coolchic(image: str, bpp: float, psnr: float) -> float | None:
    """Percent more (or fewer) bits than Cool-chic 5.0's curve for that image at equal PSNR."""
    import csv

    from scipy.interpolate import PchipInterpolator

    pts = []
    with (SHARED / "anchors" / "kodak-coolchic5-per-image.tsv").open() as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["image"] == image:
                pts.append((float(r["psnr_rgb_db"]), np.log(float(r["bpp"]))))
    pts.sort()
    p, lr = zip(*pts)
    if not p[0] <= psnr <= p[-1]:
        return None
    return float(100.0 * (bpp / np.exp(PchipInterpolator(p, lr)(psnr)) - 1.0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default="kodim01")
    ap.add_argument("--presets", default="fast,default")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--steps-only", action="store_true")
    args = ap.parse_args()

    import torch

    from lnic.encoder.encode import encode_array

    image = _image(args.image)
    record: dict = {
        "image": args.image,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "steps": step_timings(image),
    }
    if not args.steps_only:
        record["presets"] = {}
        for preset in args.presets.split(","):
            r = encode_array(image, quality=args.quality, preset=preset)
            record["presets"][preset] = {
                "quality": args.quality, "bpp": r.bpp, "psnr_rgb": r.psnr_rgb,
                "encode_seconds": r.encode_seconds,
                "rate_gap_vs_coolchic5_pct": rate_gap_vs_coolchic(args.image, r.bpp, r.psnr_rgb),
            }
    history = json.loads(OUT.read_text()) if OUT.exists() else []
    history.append(record)
    OUT.write_text(json.dumps(history, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
