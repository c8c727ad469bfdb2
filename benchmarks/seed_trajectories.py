"""Does an encode's early loss predict its final rate-distortion cost? One line per seed.

    OMP_NUM_THREADS=1 python benchmarks/seed_trajectories.py --image kodim23 --seeds 0,2,4 \
        -o benchmarks/kodak/probes/kodim23-q4-default-seeds.jsonl

Encodes a full Kodak image with a preset once per seed and appends a JSON line per seed: the real
file's bytes, PSNR and ``J = MSE + lambda * bpp`` (MSE of 0..1 images, the quantity the encoder
minimises), and the training loss averaged over each window of ``--window`` steps, with the
commit and the preset's phases. If the ranking of the seeds by an early window matches their
ranking by the final J, a warm-up that trains several initialisations for that long and keeps
the best one can pick a good run early (training_notes.md). The images are looked up in
``$LNIC_SHARED`` or ``../shared``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lnic.bench.provenance import git_commit

ROOT = Path(__file__).resolve().parents[1]


class WindowAverages:
    """A progress callback that averages the training loss over windows of ``size`` steps."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.windows: list[float] = []
        self._acc: list[float] = []

    def __call__(self, _step: int, _total: int, stats: dict[str, float]) -> None:
        self._acc.append(stats["loss"])
        if len(self._acc) == self.size:
            self.windows.append(sum(self._acc) / self.size)
            self._acc.clear()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--image", default="kodim23")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--window", type=int, default=50, help="steps per loss average")
    ap.add_argument("-o", "--output", type=Path, required=True, help="JSON lines, appended")
    args = ap.parse_args()

    from PIL import Image

    from lnic.bench.data import default_dataset_dir
    from lnic.encoder.encode import encode_array
    from lnic.encoder.presets import QUALITY_LAMBDAS, get_preset

    kodak = default_dataset_dir()
    if kodak is None:
        ap.error(
            "the Kodak images were not found: put shared/ beside the checkout or set LNIC_SHARED"
        )
    rgb = np.asarray(Image.open(kodak / f"{args.image}.png").convert("RGB"))
    preset = get_preset(args.preset)
    commit = git_commit()
    for seed in (int(s) for s in args.seeds.split(",")):
        averages = WindowAverages(args.window)
        r = encode_array(rgb, quality=args.quality, preset=preset, seed=seed, progress=averages)
        mse = 10 ** (-r.psnr_rgb / 10)
        line = json.dumps(
            {
                "image": args.image,
                "quality": args.quality,
                "commit": commit,
                "preset": args.preset,
                "phases": preset.record()["phases"],
                "seed": seed,
                "bytes": len(r.bitstream),
                "bpp": r.bpp,
                "psnr_rgb": r.psnr_rgb,
                "J": mse + QUALITY_LAMBDAS[args.quality] * r.bpp,
                "window": args.window,
                "loss_windows": averages.windows,
            }
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with args.output.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        print(line[:200], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
