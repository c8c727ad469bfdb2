"""How close the weights section's exp-Golomb codes come to ideal codes of the same integers.

For each file: the bits of every module's record (one exp-Golomb order per module for its
weights and one for its biases, :mod:`lnic.bitstream.weights`) against (a) the same with an
order per layer, (b) the ideal code length under a two-sided geometric (discrete Laplace) per
layer with its maximum-likelihood parameter (+16 bits per layer for it), and (c) each layer's
empirical entropy (a bound no code reaches without sending the histogram). If (b) is close to
the file, a better memoryless code of the weights cannot pay; only a prior that knows more
than one image (a shipped initialisation, shared statistics) can.

    python benchmarks/weight_coding.py FILE.lnic ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from lnic.bitstream.container import unpack_file
from lnic.bitstream.weights import best_order, decode_weights, module_bits

_PARAM_BITS = 16
"""Bits charged for a per-layer parameter of the ideal codes."""


def entropy_bits(v: np.ndarray) -> float:
    """``len(v)`` times the empirical entropy of ``v``, in bits."""
    if v.size == 0:
        return 0.0
    _, counts = np.unique(v, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum())


def laplace_bits(v: np.ndarray) -> float:
    """Ideal code length of ``v`` under a two-sided geometric with its ML parameter."""
    if v.size == 0:
        return 0.0
    mean = float(np.abs(v).mean())
    if mean == 0.0:
        return float(_PARAM_BITS)
    theta = mean / (1.0 + mean)
    p0 = (1.0 - theta) / (1.0 + theta)
    return float(-(v.size * np.log2(p0) + np.abs(v).sum() * np.log2(theta))) + _PARAM_BITS


def file_row(path: Path) -> dict[str, float]:
    """Bytes of the weights under each code (see the module's docstring)."""
    sections = unpack_file(path.read_bytes())
    weights = decode_weights(sections.weights, sections.header.arch.weight_shapes())
    row = {"file": path.name, "bytes": path.stat().st_size, "section": len(sections.weights)}
    sums = {"exp-Golomb per module": 0.0, "per layer": 0.0, "Laplace": 0.0, "entropy": 0.0}
    for layers in weights.modules().values():
        sums["exp-Golomb per module"] += module_bits(layers)
        for layer in layers:
            parts = [layer.weight.ravel(), layer.bias.ravel()]
            sums["per layer"] += sum(best_order(p)[1] + 4 for p in parts if p.size)
            sums["Laplace"] += sum(laplace_bits(p) for p in parts)
            sums["entropy"] += sum(entropy_bits(p) for p in parts)
    return row | {k: v / 8 for k, v in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    rows = [file_row(p) for p in args.files]
    keys = ["exp-Golomb per module", "per layer", "Laplace", "entropy"]
    print("| file | bytes | weights section | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for r in rows:
        cells = " | ".join(f"{r[k]:.0f} ({r[k] / r['section'] - 1:+.1%})" for k in keys)
        print(f"| {r['file']} | {r['bytes']} | {r['section']} | {cells} |")


if __name__ == "__main__":
    main()
