"""What a shared entropy model would cost: each file's latents coded with every file's ARM.

A prior shipped with the decoder (one ARM for every image) saves the ARM's ~500 B per file only
if another image's ARM codes a file's latents nearly as well as its own. This probe decodes
real files and range-codes each one's integer latents under each file's integer ARM (exact,
no training: an upper bound on the loss, since joint training would let the latents adapt).

    python benchmarks/foreign_arm.py A.lnic B.lnic [C.lnic ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lnic.bitstream.container import unpack_file
from lnic.bitstream.latent_coding import decode_latents
from lnic.bitstream.latent_coding.encode import encode_latents
from lnic.bitstream.weights import decode_weights, module_bits
from lnic.model.latents import grid_shapes


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("files", nargs="+", type=Path)
    args = ap.parse_args()
    files = {}
    for path in args.files:
        sections = unpack_file(path.read_bytes())
        h = sections.header
        weights = decode_weights(sections.weights, h.arch.weight_shapes())
        shapes = grid_shapes(h.height, h.width, h.arch.levels)
        grids = decode_latents(sections.latents, sections.escapes, shapes, weights.arm, h.prob_bits)
        own = len(sections.latents) + len(sections.escapes)
        arm_bytes = module_bits(weights.modules()["arm"]) / 8
        files[path.stem] = (grids, weights.arm, own, arm_bytes)
    names = list(files)
    print("| latents of | own ARM (B) | its ARM's weights (B) | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for name, (grids, _, own, arm_bytes) in files.items():
        cells = []
        for other in names:
            coded, escapes = encode_latents(grids, files[other][1])
            cells.append(f"{(len(coded) + len(escapes)) / own - 1:+.1%}")
        print(f"| {name} | {own} | {arm_bytes:.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
