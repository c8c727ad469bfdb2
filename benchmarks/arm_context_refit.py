"""How much does the ARM's causal context matter? Refit a float ARM to fixed latents.

For each candidate context (12 same-grid neighbours + the co-located coarser latent, the
default architecture 13 -> 16 -> 16 -> 2), a float ARM is trained alone (Adam, full batch,
cosine learning rate from 1e-2) to code the latents of real encodes, and the ideal code length
(discretised Laplace, as the encoder's rate term) is reported in bytes, one fit per seed. The
latents stay those the encoder trained with its own context, so the comparison slightly favours
that context. Used to choose format version 2's context (``benchmarks/arm_context.md``).

    OMP_NUM_THREADS=1 python benchmarks/arm_context_refit.py benchmarks/decode_speed/*.lnic
    OMP_NUM_THREADS=1 python benchmarks/arm_context_refit.py --npz latents.npz ...  # g0, g1, ...

``--npz`` files hold grids ``g0`` (finest), ``g1``, ... as saved from any decoder (the numbers in
``arm_context.md`` come from the version-1 files of ``decode_speed/``, decoded by version 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

CONTEXTS = {
    "v1: (-1,+2), slope 3": [(-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2), (-1, -2), (-1, -1),
                             (-1, 0), (-1, 1), (-1, 2), (0, -2), (0, -1)],
    "v2: (0,-3), slope 2": [(-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2), (-1, -2), (-1, -1),
                            (-1, 0), (-1, 1), (0, -3), (0, -2), (0, -1)],
    "(-2,+3), slope 2": [(-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2), (-2, 3), (-1, -2),
                         (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1)],
    "(-1,-3), slope 2": [(-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2), (-1, -3), (-1, -2),
                         (-1, -1), (-1, 0), (-1, 1), (0, -2), (0, -1)],
    "11 neighbours, slope 2": [(-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2), (-1, -2), (-1, -1),
                               (-1, 0), (-1, 1), (0, -2), (0, -1)],
}


def features(grids: list[np.ndarray], offsets: list[tuple[int, int]]) -> np.ndarray:
    """[latents, len(offsets) + 1]: neighbours (0 outside the grid) and the coarser latent."""
    rows = []
    for k, g in enumerate(grids):
        h, w = g.shape
        p = np.pad(g, ((3, 0), (3, 3)))
        cols = [p[3 + dy : 3 + dy + h, 3 + dx : 3 + dx + w] for dy, dx in offsets]
        coarser = grids[k + 1] if k + 1 < len(grids) else np.zeros_like(g)
        cols.append(np.repeat(np.repeat(coarser, 2, 0), 2, 1)[:h, :w])
        rows.append(np.stack(cols, -1).reshape(h * w, -1))
    return np.concatenate(rows)


def refit(ctx: np.ndarray, target: np.ndarray, steps: int, seed: int) -> float:
    """Ideal bits of ``target`` under a float ARM fitted to it from ``ctx``."""
    import torch

    from lnic.encoder.nets.entropy import laplace_bits
    from lnic.model.arm import LOG_SCALE_MAX, LOG_SCALE_MIN

    torch.manual_seed(seed)
    nn = torch.nn
    net = nn.Sequential(nn.Linear(ctx.shape[1], 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                        nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    x = torch.from_numpy(ctx.astype(np.float32))
    y = torch.from_numpy(target.astype(np.float32))

    def bits() -> torch.Tensor:
        out = net(x)
        return laplace_bits(y, out[:, 0], out[:, 1].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)).sum()

    for _ in range(steps):
        loss = bits()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return float(bits())


def load(path: Path, npz: bool) -> list[np.ndarray]:
    if npz:
        z = np.load(path)
        return [z[f"g{k}"] for k in range(len([n for n in z.files if n.startswith("g")]))]
    from lnic.bitstream.container import unpack_file
    from lnic.bitstream.latent_coding import decode_latents
    from lnic.bitstream.weights import decode_modules
    from lnic.model.latents import grid_shapes

    s = unpack_file(path.read_bytes())
    h = s.header
    arm = decode_modules(s.weights, h.arch.module_shapes())[0]
    return decode_latents(s.latents, s.escapes, grid_shapes(h.height, h.width, h.arch.levels), arm)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--npz", action="store_true", help="the files are .npz latents")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for path in args.files:
        grids = load(path, args.npz)
        target = np.concatenate([g.ravel() for g in grids])
        for name, offsets in CONTEXTS.items():
            t = time.time()
            sizes = [round(refit(features(grids, offsets), target, args.steps, seed) / 8)
                     for seed in range(args.seeds)]
            print(f"{path.name}\t{name}\t{sizes} bytes\t{time.time() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
