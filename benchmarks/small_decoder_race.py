"""The race of starts with a smaller decoder (a third and a fourth start), on the dev set.

A race's file is byte for byte its winner's single-start file (``tests/test_start_race.py``,
``tests/test_smaller_decoder_race.py``), so a three-start race is decided exactly from
single-start encodes and their hard-rounded losses at the race's step: the two-start race's
row (tag ``race``: the default preset, whose file is the better seed's at step 800) and the
smaller decoder's single start from the rival seed (tag ``a8x24r``), both in
``dev/probes.csv``; their losses at step 800 are in ``dev/small_decoder_race.jsonl`` (the
race's from its ``-v`` log, the smaller decoder's from a probe that logs its step-800 loss;
``lnic encode -v`` at 5f7773c logs all three). The smaller decoder's loss counts its networks'
fewer estimated bits, as the encoder does
(:func:`lnic.encoder.rate_control.estimated_weight_bytes`).

    python benchmarks/small_decoder_race.py [--ratio 0.1]

prints each pair's rate at equal distortion against the two-start race (``dJ / lambda`` as a
share of the race's bpp, as ``dev_probe.py --compare``) with the smaller decoder alone and
with three starts, where the finest detail is below ``--ratio`` bits per pixel (where the
default runs the smaller decoder; "-" above), and the three starts' mean there; a race of the
smaller decoder's own two starts instead (its single start from the encode's seed: tag
``a8x24s``); and the four starts of both races together
(``NoisePhase.start_race_small_seeds`` 2).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from lnic.encoder.presets import QUALITY_LAMBDAS
from lnic.encoder.rate_control import estimated_weight_bytes
from lnic.encoder.sizing import smaller_architecture
from lnic.model.architecture import Architecture

HERE = Path(__file__).resolve().parent
PIXELS = 768 * 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=0.1)
    args = parser.parse_args()
    rows: dict[tuple[str, str, int, int], dict[str, str]] = {}
    with (HERE / "dev" / "probes.csv").open(newline="") as fh:
        for r in csv.DictReader(fh):
            if r["tag"] in ("race", "a8x24r", "a8x24s"):
                rows[(r["tag"], r["image"], int(r["quality"]), int(r["seed"]))] = r
    big = Architecture(levels=7)
    small = smaller_architecture(big)
    assert small is not None
    extra_bits = 8.0 * (estimated_weight_bytes(small) - estimated_weight_bytes(big))
    print(
        "| image | q | seed | detail (bits/px) | smaller alone | three starts "
        "| smaller's lead at 800 | smaller's own race |"
    )
    print("|---|---|---|---|---|---|---|---|")
    means: dict[str, list[float]] = {
        "three starts": [],
        "the smaller decoder's own race": [],
        "four starts": [],
    }
    for line in (HERE / "dev" / "small_decoder_race.jsonl").read_text().splitlines():
        p = json.loads(line)
        im, q, s = p["image"], p["quality"], p["seed"]
        lam = QUALITY_LAMBDAS[q]
        race = rows[("race", im, q, s)]
        alone = rows[("a8x24r", im, q, p["rival_seed"])]
        losses = p["rounded_loss_800"]
        best_big = min(losses["first"], losses["second"])
        smaller = losses["smaller"] + lam * extra_bits / PIXELS
        j_race, j_small = float(race["J"]), float(alone["J"])
        j_three = j_small if smaller < best_big else j_race
        bpp = float(race["bpp"])

        def gain(j: float, j_race: float = j_race, lam: float = lam, bpp: float = bpp) -> float:
            return (j - j_race) / lam / bpp

        three = own = four = "-"
        if p["finest_detail_bits"] < args.ratio:
            means["three starts"].append(gain(j_three))
            three = f"{gain(j_three):+.1%}"
            own_seed = rows.get(("a8x24s", im, q, s))
            if own_seed is not None and "smaller_own_seed" in losses:
                # the smaller decoder's two seeds race alone: the encode's seed first
                first = losses["smaller_own_seed"] <= losses["smaller"]
                j_own = float(own_seed["J"]) if first else j_small
                means["the smaller decoder's own race"].append(gain(j_own))
                own = f"{gain(j_own):+.1%}"
                # all four: the default decoder's two starts (the race row's winner) and the
                # smaller decoder's two, each a single start's file
                own_loss = losses["smaller_own_seed"] + lam * extra_bits / PIXELS
                j_four = min(
                    (best_big, j_race), (smaller, j_small), (own_loss, float(own_seed["J"]))
                )[1]
                means["four starts"].append(gain(j_four))
                four = f"{gain(j_four):+.1%}"
        print(
            f"| {im} | {q} | {s} | {p['finest_detail_bits']:.3f} | {gain(j_small):+.1%} "
            f"| {three} | {smaller / best_big - 1:+.1%} | {own} | {four} |"
        )
    print()
    for name, gains in means.items():
        if gains:
            print(
                f"{name} against the two starts of the default decoder, below {args.ratio} "
                f"bits per pixel of detail: {np.mean(gains):+.2%} over {len(gains)} pairs"
            )


if __name__ == "__main__":
    main()
