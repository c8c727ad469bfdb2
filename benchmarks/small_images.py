"""Small images against AVIF and HEIC: encode seconds, weight bytes and BD-rate per crop size.

The images are 64x64, 128x128 and 256x256 centre crops of six development-set images
(``../shared/datasets/wiki-dev``: dev02, dev08, dev14, dev20, dev26, dev32; the small-image
rule was tuned on other images, dev05 and dev11), written once as PNGs to ``--crops``. AVIF
(speed 4) and HEIC are measured on the same crops by ``lnic bench`` (rows in
``OUT/anchors/<size>/``). lnic runs in this process through ``encode_array``, the code that
``lnic encode`` and ``lnic bench`` call, with the lnic that ``PYTHONPATH`` names, so that one
script measures any checkout: each row records that checkout's commit under ``--tag``, with the
file's weight bytes (the header's ``weight_bytes``), which ``lnic bench`` does not keep. Rows
are appended as encodes end and finished ones are skipped, so a killed run resumes::

    # the anchors (once; any checkout: they do not run lnic)
    PYTHONPATH=. nice -n 15 python benchmarks/small_images.py anchors
    # before (main's encoder) and after (this checkout), fast preset
    OMP_NUM_THREADS=1 PYTHONPATH=/work/main nice -n 15 python benchmarks/small_images.py \\
        lnic --tag before --preset fast
    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 15 python benchmarks/small_images.py \\
        lnic --tag after --preset fast
    python benchmarks/small_images.py table          # the markdown table of every tag and preset

The table gives, per tag, preset and size: the median encode seconds (a run paused for an idle
measurement leaves one row with the pause in its time) and the mean weight bytes over all
qualities and images, the weights' mean share of the file, and the mean over images of the
per-image BD-rate (PSNR-RGB) against AVIF-s4 and HEIC (negative: lnic needs fewer bits).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from csv_rows import append_row

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "small_images"
IMAGES = ("dev02", "dev08", "dev14", "dev20", "dev26", "dev32")
SIZES = (64, 128, 256)
ANCHORS = ("avif-s4", "heic")
FIELDS = [
    "tag", "preset", "size", "image", "quality", "bytes", "bpp", "psnr_rgb", "encode_s",
    "weight_bytes", "latent_bytes", "steps", "arch", "commit",
]  # fmt: skip


def shared_dir() -> Path:
    """``$LNIC_SHARED`` or ``../shared`` beside the checkout (no lnic helper: any checkout)."""
    return Path(os.environ.get("LNIC_SHARED", ROOT.parent / "shared"))


def write_crops(crops: Path, images: list[str], sizes: list[int]) -> None:
    """``crops/<size>/<image>.png``: the centre crops (written once)."""
    from PIL import Image

    for size in sizes:
        folder = crops / str(size)
        folder.mkdir(parents=True, exist_ok=True)
        for name in images:
            path = folder / f"{name}.png"
            if path.exists():
                continue
            rgb = np.asarray(Image.open(shared_dir() / "datasets" / "wiki-dev" / f"{name}.png"))
            rgb = rgb[..., :3]
            y, x = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
            Image.fromarray(np.ascontiguousarray(rgb[y : y + size, x : x + size])).save(path)


def run_anchors(args: argparse.Namespace) -> None:
    """``lnic bench`` of AVIF-s4 and HEIC on every crop size (resumable, as ``lnic bench`` is)."""
    for size in args.sizes:
        cmd = [
            sys.executable, "-c", "import sys; from lnic.cli import main; sys.exit(main())",
            "bench", "--dataset", str(args.crops / str(size)), "--codecs", ",".join(ANCHORS),
            "--images", ",".join(args.images), "-o", str(args.out / "anchors" / str(size)),
            "--columns", "short", "--no-anchors", "--no-report", "--no-progress",
        ]  # fmt: skip
        print(" ".join(cmd[3:]), flush=True)
        subprocess.run(cmd, check=True)


def _commit() -> str:
    import lnic

    where = Path(lnic.__file__).resolve().parent
    out = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def run_lnic(args: argparse.Namespace) -> None:
    """Encode every missing (size, image, quality) with the lnic on ``PYTHONPATH``."""
    from PIL import Image

    from lnic.bitstream.container import unpack_file
    from lnic.encoder.encode import encode_array

    path = args.out / "lnic.csv"
    done = set()
    if path.exists():
        with path.open() as fh:
            done = {
                (r["tag"], r["preset"], r["size"], r["image"], r["quality"])
                for r in csv.DictReader(fh)
            }
    commit = _commit()
    print(f"lnic from {Path(sys.modules['lnic'].__file__).parent} at {commit}", flush=True)
    for size in args.sizes:
        for name in args.images:
            rgb = np.asarray(Image.open(args.crops / str(size) / f"{name}.png").convert("RGB"))
            for quality in args.qualities:
                key = (args.tag, args.preset, str(size), name, str(quality))
                if key in done:
                    continue
                start = time.perf_counter()
                res = encode_array(rgb, quality=quality, preset=args.preset)
                seconds = time.perf_counter() - start
                a = unpack_file(res.bitstream).header.arch
                row = dict(zip(("tag", "preset", "size", "image", "quality"), key))
                row.update(
                    bytes=len(res.bitstream),
                    bpp=f"{res.bpp:.5f}",
                    psnr_rgb=f"{res.psnr_rgb:.4f}",
                    encode_s=f"{seconds:.2f}",
                    weight_bytes=res.section_bytes["weights"],
                    latent_bytes=res.section_bytes["latents"],
                    steps=res.steps,
                    arch=f"a{a.arm_hidden}x{a.arm_layers}s{a.synth_hidden}L{a.levels}",
                    commit=commit,
                )
                append_row(path, FIELDS, row)
                print(row, flush=True)


def _anchor_points(out: Path, size: int, codec: str) -> dict[str, tuple[list, list]]:
    points: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    path = out / "anchors" / str(size) / f"{codec}.csv"
    if path.exists():
        with path.open() as fh:
            for r in csv.DictReader(fh):
                points[r["image"]][0].append(float(r["bpp"]))
                points[r["image"]][1].append(float(r["psnr_rgb"]))
    return points


def table(args: argparse.Namespace) -> None:
    """Print the markdown table of every (tag, preset, size) in ``OUT/lnic.csv``."""
    from lnic.bench.bdrate import BDError, bd_rate

    with (args.out / "lnic.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    groups: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["tag"], r["preset"], int(r["size"]))].append(r)
    head = "| tag | preset | size | encodes | median encode s | weight B | weight share | "
    print(head + " | ".join(f"BD-rate vs {c}" for c in ANCHORS) + " | arch |")
    print("|---" * (7 + len(ANCHORS)) + "|---|")
    for (tag, preset, size), rs in sorted(groups.items()):
        bds = []
        for codec in ANCHORS:
            anchor = _anchor_points(args.out, size, codec)
            per_image = []
            for image in sorted({r["image"] for r in rs}):
                mine = [r for r in rs if r["image"] == image]
                try:
                    per_image.append(
                        bd_rate(
                            *anchor[image],
                            [float(r["bpp"]) for r in mine],
                            [float(r["psnr_rgb"]) for r in mine],
                        )
                    )
                except BDError:
                    pass
            bds.append(f"{np.mean(per_image):+.1f}% ({len(per_image)} img)" if per_image else "-")
        share = np.mean([int(r["weight_bytes"]) / int(r["bytes"]) for r in rs])
        seconds = np.median([float(r["encode_s"]) for r in rs])
        weights = np.mean([int(r["weight_bytes"]) for r in rs])
        archs = ", ".join(sorted({r["arch"] for r in rs}))
        print(
            f"| {tag} | {preset} | {size} | {len(rs)} | {seconds:.1f} | {weights:.0f} | "
            f"{share:.0%} | " + " | ".join(bds) + f" | {archs} |"
        )
    if any(math.isnan(float(r["psnr_rgb"])) for r in rows):
        print("(some rows have no PSNR)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("anchors", "lnic", "table"))
    parser.add_argument("--tag", default="after", help="the name of this checkout's rows")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--images", default=",".join(IMAGES))
    parser.add_argument("--qualities", default="1,2,3,4,5,6")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--crops", type=Path, default=Path(tempfile.gettempdir()) / "lnic-small-crops"
    )
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.images = args.images.split(",")
    args.qualities = [int(q) for q in args.qualities.split(",")]
    write_crops(args.crops, args.images, args.sizes)
    {"anchors": run_anchors, "lnic": run_lnic, "table": table}[args.what](args)


if __name__ == "__main__":
    main()
