"""Encodes of images larger than 768x512, built from development photos (none is Kodak).

The development set holds 768x512 crops only, so a larger image is a 2x2 mosaic of four of them
(1536x1024, 4x the pixels). What it measures is what depends on the pixel count rather than on
the content: the latents' gradients scale as 1 / pixels, so an optimiser setting tuned at
768x512 acts differently at 4x (benchmarks/training_notes.md, "the latents' Adam eps").

    python benchmarks/mosaic_probe.py make dev03,dev12,dev14,dev30 -o mosaic4.png
    OMP_NUM_THREADS=1 PYTHONPATH=<checkout> python benchmarks/mosaic_probe.py encode mosaic4.png \\
        --tag base --seed 1 --out benchmarks/dev/mosaic_eps.jsonl

``encode`` runs ``lnic encode --json`` of the lnic on ``PYTHONPATH`` (one thread, default
preset, quality 4 unless told) and appends one JSON line: the encode's own JSON plus the tag,
seed, image and the commit of that lnic's checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from csv_rows import emit_json_line
from dev_probe import git_commit
from PIL import Image

DEV = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "wiki-dev"


def make(names: list[str], out: Path, dev: Path = DEV) -> None:
    """Write the 2x2 mosaic of four landscape 768x512 development photos (row by row)."""
    if len(names) != 4:
        raise SystemExit("a mosaic takes four images")
    tiles = [np.asarray(Image.open(dev / f"{n}.png").convert("RGB")) for n in names]
    if any(t.shape != (512, 768, 3) for t in tiles):
        raise SystemExit("every image must be 768x512 (landscape)")
    rows = [np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)]
    Image.fromarray(np.concatenate(rows, 0)).save(out)


def _commit(root: Path) -> str:
    """:func:`dev_probe.git_commit` of the lnic at ``root``, marked where its ``lnic/`` has
    uncommitted changes (a variant checkout's one-line edit)."""
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--", "lnic"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return git_commit() + ("+uncommitted lnic changes" if dirty else "")


def row(result: dict, tag: str, seed: int, code: str, command: str) -> dict:
    """The JSON line of one encode: ``J = MSE + lambda * bpp`` (MSE of 0..1 pixels) beside the
    bytes and PSNR, the weights' section, and what produced it."""
    mse = 10 ** (-result["psnr_rgb"] / 10)
    return {
        "tag": tag, "image": Path(result["input"]).name, "seed": seed,
        "code": code, "bytes": result["bytes"], "bpp": result["bpp"],
        "psnr_rgb": result["psnr_rgb"], "J": mse + result["lmbda"] * result["bpp"],
        "weights": result["section_bytes"]["weights"], "steps": result["steps"],
        "encode_seconds": result["encode_seconds"], "threads": 1, "command": command,
    }  # fmt: skip


def encode(
    image: Path, tag: str, seed: int, quality: int, out: Path | None, keep: Path | None = None
) -> None:
    """``lnic encode`` of ``image`` with the lnic importable here; one JSON line (and the file
    kept at ``keep``, for probes that read files, such as ``context_probe.py``)."""
    import lnic

    root = Path(lnic.__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "encode", str(image), "-o", f"{tmp}/out.lnic", "--quality", str(quality),
            "--seed", str(seed), "--threads", "1", "--json", "--no-progress",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(root)}
        done = subprocess.run(
            [sys.executable, "-m", "lnic.cli", *args],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        if keep is not None:
            shutil.copyfile(f"{tmp}/out.lnic", keep)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    emit_json_line(row(result, tag, seed, _commit(root), "lnic " + " ".join(args)), out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="build a 2x2 mosaic of four development photos")
    m.add_argument("names", help="four names, e.g. dev03,dev12,dev14,dev30 (row by row)")
    m.add_argument("-o", "--output", type=Path, required=True)
    e = sub.add_parser("encode", help="encode a mosaic with the lnic on PYTHONPATH")
    e.add_argument("image", type=Path)
    e.add_argument("--tag", required=True)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--quality", type=int, default=4)
    e.add_argument("--out", type=Path, help="append the JSON line here")
    e.add_argument("--keep", type=Path, help="keep the encoded file here")
    args = ap.parse_args()
    if args.command == "make":
        make(args.names.split(","), args.output)
    else:
        encode(args.image, args.tag, args.seed, args.quality, args.out, args.keep)


if __name__ == "__main__":
    main()
