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
``arm_context.md`` come from format-version-1 encodes of the ``decode_speed/`` images, decoded by
version 1's decoder). The first line printed names the commit and the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

CONTEXTS = {
    "v1: (-1,+2), slope 3": [
        (-2, -2),
        (-2, -1),
        (-2, 0),
        (-2, 1),
        (-2, 2),
        (-1, -2),
        (-1, -1),
        (-1, 0),
        (-1, 1),
        (-1, 2),
        (0, -2),
        (0, -1),
    ],
    "v2: (0,-3), slope 2": [
        (-2, -2),
        (-2, -1),
        (-2, 0),
        (-2, 1),
        (-2, 2),
        (-1, -2),
        (-1, -1),
        (-1, 0),
        (-1, 1),
        (0, -3),
        (0, -2),
        (0, -1),
    ],
    "(-2,+3), slope 2": [
        (-2, -2),
        (-2, -1),
        (-2, 0),
        (-2, 1),
        (-2, 2),
        (-2, 3),
        (-1, -2),
        (-1, -1),
        (-1, 0),
        (-1, 1),
        (0, -2),
        (0, -1),
    ],
    "(-1,-3), slope 2": [
        (-2, -2),
        (-2, -1),
        (-2, 0),
        (-2, 1),
        (-2, 2),
        (-1, -3),
        (-1, -2),
        (-1, -1),
        (-1, 0),
        (-1, 1),
        (0, -2),
        (0, -1),
    ],
    "11 neighbours, slope 2": [
        (-2, -2),
        (-2, -1),
        (-2, 0),
        (-2, 1),
        (-2, 2),
        (-1, -2),
        (-1, -1),
        (-1, 0),
        (-1, 1),
        (0, -2),
        (0, -1),
    ],
}


V2 = CONTEXTS["v2: (0,-3), slope 2"]

INTER = {
    "co-located": [("co", 0, 0)],
    "coarser 3x3": [("co", dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
    "coarser 2x2 by phase": [("ph", 0, 0), ("ph", 0, 1), ("ph", 1, 0), ("ph", 1, 1)],
    "co-located + next coarser": [("co", 0, 0), ("c2", 0, 0)],
    "2x2 by phase + next coarser 2x2": [
        ("ph", 0, 0),
        ("ph", 0, 1),
        ("ph", 1, 0),
        ("ph", 1, 1),
        ("p2", 0, 0),
        ("p2", 0, 1),
        ("p2", 1, 0),
        ("p2", 1, 1),
    ],
    "co-located + 6 more neighbours (18)": [("co", 0, 0)]
    + [("sg", dy, dx) for dy, dx in [(-2, -3), (-2, 3), (-1, -3), (-3, -1), (-3, 0), (-3, 1)]],
    "co-located + 10 more neighbours (22)": [("co", 0, 0)]
    + [
        ("sg", dy, dx) for dy, dx in [(-2, -3), (-2, 3), (-1, -3)] + [(-3, x) for x in range(-3, 4)]
    ],
}
"""Inter-grid contexts (with format 2's same-grid neighbours): values of the coarser grids,
which are decoded first, so any of their positions may be used. ``co``: the coarser grid at
``(y // 2 + dy, x // 2 + dx)``; ``ph``: the same with each offset pointing toward the latent's
side of its coarser cell (``+d`` for odd rows/columns, ``-d`` for even ones), so ``ph`` 2x2 is
the support of a bilinear x2 interpolation; ``c2``/``p2``: the same on the grid two levels
coarser (``y // 4``; ``p2`` by the phase ``y // 2 % 2``); ``sg``: more neighbours in the
latent's own grid (all with ``dx + 2 dy < 0``, so format 2's slope-2 wavefronts still decode
them). Zero outside the grids."""


def _inter_column(grids: list[np.ndarray], k: int, kind: str, dy: int, dx: int) -> np.ndarray:
    h, w = grids[k].shape
    if kind == "sg":
        assert dx + 2 * dy < 0
        p = np.pad(grids[k], ((4, 0), (4, 4)))
        return p[4 + dy : 4 + dy + h, 4 + dx : 4 + dx + w].ravel()
    up = 2 if kind in ("co", "ph") else 4
    if k + up // 2 >= len(grids):
        return np.zeros(h * w)
    src = grids[k + up // 2]
    y, x = np.mgrid[0:h, 0:w]
    if kind in ("ph", "p2"):
        sy = np.where((y // (up // 2)) % 2 == 1, 1, -1)
        sx = np.where((x // (up // 2)) % 2 == 1, 1, -1)
        yy, xx = y // up + sy * dy, x // up + sx * dx
    else:
        yy, xx = y // up + dy, x // up + dx
    inside = (yy >= 0) & (yy < src.shape[0]) & (xx >= 0) & (xx < src.shape[1])
    vals = src[np.clip(yy, 0, src.shape[0] - 1), np.clip(xx, 0, src.shape[1] - 1)]
    return np.where(inside, vals, 0).ravel()


def features(
    grids: list[np.ndarray],
    offsets: list[tuple[int, int]],
    inter: list[tuple[str, int, int]] | None = None,
) -> np.ndarray:
    """[latents, len(offsets) + len(inter)]: neighbours (0 outside the grid), coarser values."""
    inter = inter or INTER["co-located"]
    rows = []
    for k, g in enumerate(grids):
        h, w = g.shape
        p = np.pad(g, ((3, 0), (3, 3)))
        cols = [p[3 + dy : 3 + dy + h, 3 + dx : 3 + dx + w].ravel() for dy, dx in offsets]
        cols += [_inter_column(grids, k, *spec) for spec in inter]
        rows.append(np.stack(cols, -1))
    return np.concatenate(rows)


def refit(
    ctx: np.ndarray,
    target: np.ndarray,
    steps: int,
    seed: int,
    init: list | None = None,
    lr: float = 1e-2,
) -> float:
    """Ideal bits of ``target`` under a float ARM fitted to it from ``ctx``.

    ``init``: the file's ARM layers (:class:`QuantizedLinear`) to start from; inputs beyond
    the file's context start with zero weights, so the fit starts at the file's ARM."""
    import torch

    from lnic.encoder.nets.entropy import laplace_bits
    from lnic.model.arm import LOG_SCALE_MAX, LOG_SCALE_MIN

    torch.manual_seed(seed)
    nn = torch.nn
    net = nn.Sequential(
        nn.Linear(ctx.shape[1], 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2)
    )
    if init is not None:
        with torch.no_grad():
            for lin, q in zip([m for m in net if isinstance(m, nn.Linear)], init):
                w = torch.from_numpy(q.weight * 2.0**-q.e_w).float()
                lin.weight.zero_()
                lin.weight[:, : w.shape[1]] = w
                lin.bias.copy_(torch.from_numpy(q.bias * 2.0**-q.e_b).float())
    opt = torch.optim.Adam(net.parameters(), lr=lr)
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


def load(path: Path, npz: bool) -> tuple[list[np.ndarray], list | None]:
    """The latent grids of a file (finest first) and its ARM layers (None for ``.npz``)."""
    if npz:
        z = np.load(path)
        return [z[f"g{k}"] for k in range(len([n for n in z.files if n.startswith("g")]))], None
    from lnic.bitstream.container import unpack_file
    from lnic.bitstream.latent_coding import decode_latents
    from lnic.bitstream.weights import decode_weights
    from lnic.model.latents import grid_shapes

    s = unpack_file(path.read_bytes())
    h = s.header
    arm = decode_weights(s.weights, h.arch.weight_shapes()).arm
    shapes = grid_shapes(h.height, h.width, h.arch.levels)
    return decode_latents(s.latents, s.escapes, shapes, arm, h.prob_bits), arm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--npz", action="store_true", help="the files are .npz latents")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (cosine)")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument(
        "--warm",
        action="store_true",
        help="start from the file's ARM (extra inputs at zero weight)",
    )
    parser.add_argument(
        "--inter",
        action="store_true",
        help="compare inter-grid contexts (INTER) on format 2's neighbours instead",
    )
    args = parser.parse_args(argv)
    import torch

    from lnic.bench.provenance import git_commit, machine_info

    print(f"# commit {git_commit()}, machine {machine_info()}", flush=True)
    torch.set_num_threads(1)
    for path in args.files:
        grids, arm = load(path, args.npz)
        init = arm if args.warm else None
        target = np.concatenate([g.ravel() for g in grids])
        cases = (
            {name: (V2, spec) for name, spec in INTER.items()}
            if args.inter
            else {name: (offsets, None) for name, offsets in CONTEXTS.items()}
        )
        for name, (offsets, inter) in cases.items():
            if args.only not in name:
                continue
            t = time.time()
            ctx = features(grids, offsets, inter)
            sizes = [
                round(refit(ctx, target, args.steps, seed, init, args.lr) / 8)
                for seed in range(args.seeds)
            ]
            print(f"{path.name}\t{name}\t{sizes} bytes\t{time.time() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
