"""Architecture and step probes on small development-set crops: one CSV row per real encode.

Each row is one encode of a centre crop of ``../shared/datasets/wiki-dev/<image>.png`` with a
given decoder architecture and step count, by the lnic on ``PYTHONPATH``; it holds the file's
weight and latent bytes, PSNR-RGB, ``J = MSE + lambda * bpp`` (MSE of 0..1 images) and the
encode seconds. Finished rows are skipped, so a killed run resumes. Candidates are compared at
equal (image, size, quality, seed): ``dJ / lambda`` is, to first order, the bpp a candidate saves
at equal distortion::

    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 15 python benchmarks/small_arch_probe.py \\
        --images dev05,dev11 --sizes 16,32,64 --qualities 2,5 --seeds 0 \\
        --archs a16x2s40,a8x2s16,a4x2s8 --steps auto,490 \\
        --out benchmarks/small_images/arch_probe.csv
    python benchmarks/small_arch_probe.py --compare --out benchmarks/small_images/arch_probe.csv

An architecture is written ``a<arm_hidden>x<arm_layers>s<synth_hidden>`` with an optional
``L<levels>`` (default: as many as the image allows); ``auto`` is the encoder's own choice.
Steps ``auto`` are the preset's plan for the image size; a number runs exactly that many.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import logging
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from csv_rows import append_row

from benchmarks.dev_probe import git_commit, shared_dir

FIELDS = [
    "image", "size", "quality", "seed", "arch", "steps", "preset", "steps_run", "levels",
    "arm_hidden", "arm_layers", "synth_hidden", "bytes", "weight_bytes", "latent_bytes", "bpp",
    "psnr_rgb", "J", "seconds", "commit",
]  # fmt: skip

_ARCH = re.compile(r"a(\d+)x(\d+)s(\d+)(?:L(\d+))?$")


def centre_crop(name: str, size: int) -> np.ndarray:
    """The ``size`` x ``size`` centre crop of a development-set image."""
    from PIL import Image

    path = shared_dir() / "datasets" / "wiki-dev" / f"{name}.png"
    rgb = np.asarray(Image.open(path).convert("RGB"))
    y, x = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
    return np.ascontiguousarray(rgb[y : y + size, x : x + size])


def parse_arch(spec: str, height: int, width: int):
    """The :class:`Architecture` a spec names (``None`` for ``auto``: the encoder chooses)."""
    from lnic.model.architecture import Architecture
    from lnic.model.latents import num_levels

    if spec == "auto":
        return None
    m = _ARCH.match(spec)
    if m is None:
        raise SystemExit(f"bad architecture {spec!r} (e.g. a16x2s40 or a8x1s12L4)")
    hidden, layers, synth, levels = m.groups()
    most = num_levels(height, width)
    return Architecture(
        levels=min(int(levels), most) if levels else most,
        arm_hidden=int(hidden),
        arm_layers=int(layers),
        synth_hidden=int(synth),
    )


def _key(row: dict) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in ("image", "size", "quality", "seed", "arch", "steps"))


def _done(out: Path) -> set[tuple[str, ...]]:
    if not out.exists():
        return set()
    with out.open() as fh:
        return {_key(row) for row in csv.DictReader(fh)}


def run(args: argparse.Namespace) -> None:
    """Encode every missing (image, size, quality, seed, arch, steps) and append its row."""
    from lnic.bitstream.container import unpack_file
    from lnic.encoder.encode import encode_array
    from lnic.encoder.presets import QUALITY_LAMBDAS

    out = Path(args.out)
    done, commit = _done(out), git_commit()
    grid = itertools.product(
        args.images.split(","),
        (int(s) for s in args.sizes.split(",")),
        (int(q) for q in args.qualities.split(",")),
        (int(s) for s in args.seeds.split(",")),
        args.archs.split(","),
        args.steps.split(","),
    )
    for name, size, quality, seed, arch, steps in grid:
        row: dict = dict(image=name, size=size, quality=quality, seed=seed, arch=arch, steps=steps)
        if _key(row) in done:
            continue
        image = centre_crop(name, size)
        kwargs = {} if arch == "auto" else {"arch": parse_arch(arch, size, size)}
        start = time.perf_counter()
        res = encode_array(
            image,
            quality=quality,
            preset=args.preset,
            seed=seed,
            steps=None if steps == "auto" else int(steps),
            **kwargs,
        )
        seconds = time.perf_counter() - start
        a = unpack_file(res.bitstream).header.arch
        mse = float(np.mean((res.reconstruction / 255.0 - image / 255.0) ** 2))
        row.update(
            preset=args.preset,
            steps_run=res.steps,
            levels=a.levels,
            arm_hidden=a.arm_hidden,
            arm_layers=a.arm_layers,
            synth_hidden=a.synth_hidden,
            bytes=len(res.bitstream),
            weight_bytes=res.section_bytes["weights"],
            latent_bytes=res.section_bytes["latents"],
            bpp=f"{res.bpp:.4f}",
            psnr_rgb=f"{res.psnr_rgb:.3f}",
            J=f"{mse + QUALITY_LAMBDAS[quality] * res.bpp:.6g}",
            seconds=f"{seconds:.2f}",
            commit=commit,
        )
        append_row(out, FIELDS, row)
        logging.info("%s", row)


def compare(args: argparse.Namespace) -> None:
    """Per (size, quality, steps, arch): mean dJ/lambda (bpp saved) against ``--base``, and
    the mean weight bytes, PSNR and seconds."""
    from lnic.encoder.presets import QUALITY_LAMBDAS

    with Path(args.out).open() as fh:
        rows = list({_key(r): r for r in reversed(list(csv.DictReader(fh)))}.values())
    base = {
        (r["image"], r["size"], r["quality"], r["seed"]): float(r["J"])
        for r in rows
        if r["arch"] == args.base and r["steps"] == args.base_steps
    }
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["size"], r["quality"], r["steps"], r["arch"])].append(r)
    print("size q steps arch: n  dJ/lambda(bpp)  weight_B  bytes  psnr  seconds")
    for key in sorted(groups, key=lambda k: (int(k[0]), int(k[1]), k[2], k[3])):
        rs = groups[key]
        lam = QUALITY_LAMBDAS[int(key[1])]
        d = [
            (float(r["J"]) - base[k]) / lam
            for r in rs
            if (k := (r["image"], r["size"], r["quality"], r["seed"])) in base
        ]

        def mean(field: str, rs: list[dict] = rs) -> float:
            return sum(float(r[field]) for r in rs) / len(rs)

        dj = f"{np.mean(d):+.3f}" if d else "-"
        print(
            f"{key[0]:>4} q{key[1]} {key[2]:>5} {key[3]:<12}: {len(rs)} {dj:>8} "
            f"{mean('weight_bytes'):7.0f} {mean('bytes'):7.0f} {mean('psnr_rgb'):6.2f} "
            f"{mean('seconds'):6.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default="dev05,dev11")
    parser.add_argument("--sizes", default="16,64")
    parser.add_argument("--qualities", default="2,5")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--archs", default="a16x2s40")
    parser.add_argument("--steps", default="auto")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--out", default="benchmarks/small_images/arch_probe.csv")
    parser.add_argument("--compare", action="store_true", help="summarise --out instead")
    parser.add_argument("--base", default="a16x2s40", help="the architecture compared against")
    parser.add_argument("--base-steps", default="auto", help="the steps compared against")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("lnic").setLevel(logging.WARNING)
    compare(args) if args.compare else run(args)


if __name__ == "__main__":
    main()
