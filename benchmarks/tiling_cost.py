"""What tiling costs in rate at equal PSNR, and what it buys in wall time (issue 24).

A development-set image (``../shared/datasets/wiki-dev``, not Kodak: the decision is tuned
here) is encoded whole and as four independently encoded tiles (its 2 x 2 halves: 384x256 for a
768x512 image), with the default preset at one quality, for each seed. Every encode is one row
of ``--out`` (CSV), appended as it finishes: a killed run resumes where it stopped. Rows:

* ``whole``: the whole image on one thread (``threads`` 1), and on two (``--whole-threads``;
  run alone, after the one-thread encodes).
* ``tile0`` .. ``tile3``: each tile on one thread. A tile's preset is scaled to its pixels as
  ``lnic encode`` scales it (a quarter of the pixels gets more steps, up to
  ``MAX_STEP_SCALE`` times); ``--tile-steps N`` runs N steps instead (e.g. the whole image's).

Each row keeps the file's bytes and the sum of squared errors of its reconstruction, so the
tiles' PSNR over the whole image is that of the stitched reconstruction (the tiles cover the
image exactly once), and their size is the sum of the four files.

Report (``--report``): per image and seed, ``J = MSE + lambda * bpp`` (MSE of samples scaled to
0..1) of the whole and the tiled encode; at the lambda-optimal point ``dD/dR = -lambda``, so
``(J_tiles - J_whole) / lambda`` is the rate tiling costs at equal distortion, to first order
(as ``benchmarks/dev_probe.py`` compares variants). Wall time: the whole encode on two threads
against four one-thread tile encodes on two workers (the longest-first schedule of the four
measured times: what two parallel one-thread workers take), and against the whole encode on one
thread.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/tiling_cost.py --workers 2   # long: run it
    python benchmarks/tiling_cost.py --report
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from csv_rows import append_row, read_rows

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "tiling_cost.csv"
FIELDS = [
    "image", "quality", "seed", "preset", "part", "threads", "steps", "width", "height", "bytes",
    "sse", "seconds", "commit",
]  # fmt: skip
PARTS = ("whole", "tile0", "tile1", "tile2", "tile3")


def shared_dir() -> Path:
    """``$LNIC_SHARED`` or ``../shared``."""
    return Path(os.environ.get("LNIC_SHARED", ROOT.parent / "shared"))


def load(image: str) -> np.ndarray:
    """The dev-set image as an (H, W, 3) uint8 array."""
    from PIL import Image

    path = shared_dir() / "datasets" / "wiki-dev" / f"{image}.png"
    return np.asarray(Image.open(path).convert("RGB"))


def part_of(rgb: np.ndarray, part: str) -> np.ndarray:
    """The whole image, or tile k of its 2 x 2 halves (row-major: 0 top-left, 3 bottom-right)."""
    if part == "whole":
        return rgb
    k = int(part[-1])
    h, w = rgb.shape[0] // 2, rgb.shape[1] // 2
    rows = slice(0, h) if k < 2 else slice(h, None)
    cols = slice(0, w) if k % 2 == 0 else slice(w, None)
    return np.ascontiguousarray(rgb[rows, cols])


def encode_row(job: dict) -> dict:
    """One encode (in a worker process, on ``job['threads']`` threads): the CSV row."""
    import torch

    torch.set_num_threads(int(job["threads"]))
    from lnic.bench.provenance import git_commit, short_commit
    from lnic.encoder.encode import encode_array

    pixels = part_of(load(job["image"]), job["part"])
    steps = job["tile_steps"] if job["part"] != "whole" else job["steps"]
    steps = steps or job["steps"]
    t = time.perf_counter()
    result = encode_array(
        pixels, quality=int(job["quality"]), preset=job["preset"], seed=int(job["seed"]),
        steps=steps,
    )  # fmt: skip
    seconds = time.perf_counter() - t
    err = result.reconstruction.astype(np.float64) - pixels
    return {
        **{k: job[k] for k in ("image", "quality", "seed", "preset", "part", "threads")},
        "steps": result.steps,
        "width": result.width,
        "height": result.height,
        "bytes": len(result.bitstream),
        "sse": float(np.sum(err**2)),
        "seconds": round(seconds, 2),
        "commit": short_commit(git_commit()),
    }


def _key(row: dict) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in ("image", "quality", "seed", "preset", "part", "threads"))


def run(args: argparse.Namespace) -> None:
    """Every missing row, ``args.workers`` encodes at a time."""
    done = {_key(r) for r in read_rows(args.out)}
    jobs = []
    for seed in args.seeds.split(","):
        for image in args.images.split(","):
            base = {"image": image, "quality": args.quality, "seed": seed, "preset": args.preset}
            base["tile_steps"], base["steps"] = args.tile_steps, args.steps
            wanted = [("whole", 1), ("whole", args.whole_threads)]
            wanted += [(p, 1) for p in PARTS[1:]]
            for part, threads in dict.fromkeys(wanted):
                job = {**base, "part": part, "threads": threads}
                if _key(job) not in done:
                    jobs.append(job)
    # one-thread encodes side by side; an encode on more threads alone
    single = [j for j in jobs if j["threads"] == 1]
    for batch, workers in ((single, args.workers), ([j for j in jobs if j not in single], 1)):
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for row in pool.map(encode_row, batch):
                append_row(args.out, FIELDS, row)
                print(row, flush=True)


def two_worker_wall(times: list[float]) -> float:
    """Wall time of the jobs on two workers, longest first to the less loaded worker."""
    load = [0.0, 0.0]
    for t in sorted(times, reverse=True):
        load[load.index(min(load))] += t
    return max(load)


def _totals(rows: list, pixels: int, lam: float) -> tuple[int, float, float]:
    """(bytes, PSNR-RGB, J) of encodes that together cover an image of ``pixels`` once."""
    size = sum(int(r["bytes"]) for r in rows)
    mse = sum(float(r["sse"]) for r in rows) / (3 * pixels)
    return size, 10 * np.log10(255**2 / mse), mse / 255**2 + lam * 8 * size / pixels


def report(args: argparse.Namespace) -> None:
    """The comparison table of the rows in ``args.out``."""
    from lnic.encoder.presets import QUALITY_LAMBDAS

    groups: dict[tuple[str, ...], dict[tuple[str, str], dict]] = defaultdict(dict)
    for r in read_rows(args.out):
        groups[(r["image"], r["quality"], r["seed"], r["preset"])][(r["part"], r["threads"])] = r
    print(
        "| image | q | seed | whole: bytes, dB | tiles: bytes, dB | rate at equal PSNR | "
        "whole 2 threads s | tiles on 2 workers s | whole 1 thread s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    costs = []
    for (image, q, seed, _), parts in sorted(groups.items()):
        tiles = [parts.get((p, "1")) for p in PARTS[1:]]
        whole, whole2 = parts.get(("whole", "1")), parts.get(("whole", str(args.whole_threads)))
        if whole is None or None in tiles:
            continue
        n = int(whole["width"]) * int(whole["height"])
        lam = QUALITY_LAMBDAS[int(q)]
        (wb, wdb, wj), (tb, tdb, tj) = (_totals(rows, n, lam) for rows in ([whole], tiles))
        cost = (tj - wj) / lam / (8 * wb / n)
        costs.append(cost)
        tile_wall = two_worker_wall([float(t["seconds"]) for t in tiles])  # type: ignore[index]
        w2 = f"{float(whole2['seconds']):.0f}" if whole2 else "-"
        print(
            f"| {image} | {q} | {seed} | {wb}, {wdb:.3f} | {tb}, {tdb:.3f} | {cost:+.1%} | {w2} | "
            f"{tile_wall:.0f} | {float(whole['seconds']):.0f} |"
        )
    if costs:
        print(f"\nmean rate cost of tiling at equal PSNR over {len(costs)}: {np.mean(costs):+.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default="dev02,dev20")
    parser.add_argument("--quality", default="4")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--tile-steps", type=int, default=None, help="steps per tile encode")
    parser.add_argument("--steps", type=int, default=None, help="steps of every encode (checks)")
    parser.add_argument("--whole-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="encodes run side by side")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="print the comparison table")
    args = parser.parse_args()
    report(args) if args.report else run(args)


if __name__ == "__main__":
    main()
