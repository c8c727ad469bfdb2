"""How far an encode's networks move from their seeded initialisation, and what coding each
weight as its difference from the initialisation would cost.

A decoder can rebuild the encoder's initial networks from a seed (in integer arithmetic, for
bit-exactness), so the weights could be coded as ``q(w) - q(w0)`` at the module's step
instead of ``q(w)``. That pays only if training leaves the weights near ``w0``. This probe
encodes one image, rebuilds ``w0`` from the same seed, and reports per layer the relative
drift ``|w - w0| / |w|`` and the exp-Golomb bits of both codes (each with its best order, the
module's chosen weight step; the synthesis pair's balancing rescale of ``w`` is applied to
``w0`` too).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/weight_drift.py --image dev03 --quality 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from dev_probe import shared_dir
from PIL import Image

from lnic.bench.provenance import git_commit
from lnic.bitstream.container import unpack_file
from lnic.bitstream.weights import best_order, decode_weights
from lnic.encoder.encode import encode_array
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.quantize import _float_layers


def _raw(layer: torch.nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    w = layer.weight.detach().double().numpy()
    return w.reshape(w.shape[0], -1), layer.bias.detach().double().numpy()


def _balance_factor(model: OverfittedCodec) -> float:
    """The factor quantize._balance scales the model's first synthesis layer by."""
    m1 = np.abs(_raw(model.synthesis.lin1)[0]).max()
    m2 = np.abs(_raw(model.synthesis.lin2)[0]).max()
    return 1.0 if m1 == 0 or m2 == 0 else float(np.sqrt(m2 / m1))


def drift(image: str, quality: int, preset: str, seed: int) -> dict:
    """One encode's drift and code lengths, by module and layer."""
    path = shared_dir() / "datasets" / "wiki-dev" / f"{image}.png"
    rgb = np.asarray(Image.open(path).convert("RGB"))
    result = encode_array(rgb, quality, preset, seed=seed)
    sections = unpack_file(result.bitstream)
    arch = sections.header.arch
    coded = decode_weights(sections.weights, arch.weight_shapes()).modules()
    torch.manual_seed(seed)  # as the encoder does before building its model
    initial = OverfittedCodec(arch, rgb.shape[0], rgb.shape[1])
    start = _float_layers(initial).modules()
    trained = _float_layers(result.model).modules()
    # the synthesis pair is stored balanced (quantize._balance) by the trained model's ratio:
    # give the initial pair the same factor, not its own
    a = _balance_factor(result.model)
    (w1, b1), (w2, b2) = (_raw(initial.synthesis.lin1), _raw(initial.synthesis.lin2))
    start["synthesis"][:2] = [(w1 * a, b1 * a), (w2 / a, b2)]
    out: dict = {"image": image, "quality": quality, "preset": preset, "seed": seed}
    out |= {"commit": git_commit(), "steps": result.steps}
    out |= {"bytes": len(result.bitstream), "weights_bytes": len(sections.weights), "modules": {}}
    for name, layers in coded.items():
        e_w = layers[0].e_w
        rows = []
        for q, (w, _), (w0, _) in zip(layers, trained[name], start[name]):
            qw0 = np.round(w0 * 2.0**e_w).astype(np.int64)
            delta = q.weight.ravel() - qw0.ravel()
            rows.append({
                "shape": list(q.weight.shape),
                "drift": float(np.linalg.norm(w - w0) / max(np.linalg.norm(w), 1e-12)),
                "bits_plain": best_order(q.weight.ravel())[1],
                "bits_delta": best_order(delta)[1],
            })  # fmt: skip
        out["modules"][name] = {"e_w": e_w, "layers": rows}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="dev03")
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="append the result as a JSON line here")
    args = parser.parse_args()
    result = drift(args.image, args.quality, args.preset, args.seed)
    for name, module in result["modules"].items():
        for i, r in enumerate(module["layers"]):
            print(
                f"{name}[{i}] {r['shape']} e_w={module['e_w']} drift {r['drift']:.2f} "
                f"bits {r['bits_plain']} -> {r['bits_delta']}"
            )
    plain = sum(r["bits_plain"] for m in result["modules"].values() for r in m["layers"])
    delta = sum(r["bits_delta"] for m in result["modules"].values() for r in m["layers"])
    print(f"weights (without biases): {plain / 8:.0f} B plain, {delta / 8:.0f} B as differences")
    if args.out:
        with args.out.open("a") as fh:
            fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
