"""How many of the latents' bits would a richer ARM context save? Measured on real files.

lnic's ARM sees 12 causal neighbours in a latent's own grid and one latent of the next coarser
grid (the co-located one). Cool-chic 5 adds an "inter-feature" context built from all coarser
grids for its finest grids. Whether that pays here can be measured before any format change:
decode the integer latents of real files, fit a fresh float ARM of lnic's shape (one MLP for
all grids, hidden 16 x 2, Laplace output) to them with each candidate context, and compare the
code length. The latents were trained for the base context, so the gain found is a lower bound
of what joint training would reach; the base context's own fit is the yardstick (it should come
close to the file's latent bytes). Each seed fits the base context first; every variant, base
included, then goes on from that fit for as many steps again with its extra inputs' weights
starting at zero, so the variants differ only in what their inputs add, not in fitting luck.

Contexts (every extra input is 0 where a grid has no such coarser grid):

- ``base``: the format's 13 inputs;
- ``ancestors``: base + the co-located latents of every further coarser grid (5 more), all
  decoded before the latent under lnic's wavefront schedule, so no schedule change;
- ``parent3x3``: base + the 8 neighbours of the co-located latent in the next coarser grid (the
  ones below and right of it need a larger ``GRID_LAG``);
- ``both``: all of them.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/context_probe.py FILE.lnic [FILE.lnic ...]
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from csv_rows import emit_json_line

from lnic.bitstream.container import unpack_file
from lnic.bitstream.latent_coding import decode_latents
from lnic.bitstream.weights import decode_weights
from lnic.model.arm import LOG_SCALE_MAX, LOG_SCALE_MIN, coarser_colocated, gather_context
from lnic.model.latents import grid_shapes

VARIANTS = ("base", "ancestors", "parent3x3", "both")
BRANCHES = ("skip", "gridbias", "skip+gridbias", "gridhidden")
"""Other function classes over the format's 13 inputs (not other inputs):

- ``skip``: Cool-chic 5's linear side branch, ``mlp(c) + W c`` for both outputs (26 weights,
  26 MAC per latent): a smooth grid's mean is close to a linear extrapolation of its
  neighbours, which a 16-wide ReLU network only approximates piecewise;
- ``gridbias``: a learned offset of both outputs per grid (14 weights, no MAC): one network
  serves every grid, though the coarse grids' latents are denser and larger;
- ``skip+gridbias``: both;
- ``gridhidden``: ``gridbias`` plus a learned offset of the first hidden layer per grid (16 x 7
  more weights, still no MAC: the decoder adds a per-grid bias vector).
"""
ORACLES = ("local5", "block8")
"""Side information no causal context has, to bound what a hyperprior (Cool-chic 5's
hyperlatents: grids that are only entropy context) could tell the ARM:

- ``local5``: the log of the mean magnitude of the 24 latents around each latent (5x5 window,
  itself excluded, future ones included): free oracle side information, an upper bound;
- ``block8``: per 8x8 block of its grid, the block's mean magnitude quantized to one of
  :data:`BLOCK_LEVELS` levels (the latent itself is 1/64 of it); the row also gives the levels'
  zeroth-order entropy in bytes, what sending that map would cost at most.
"""
BLOCK_LEVELS = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0)
"""Lower edges of ``block8``'s magnitude levels (a block of zeros is level 0)."""
PROB_FLOOR = 2.0**-16
"""The coder's table gives no symbol less than this probability."""


def _latents(path: Path) -> tuple[list[np.ndarray], int, int]:
    sections = unpack_file(path.read_bytes())
    h = sections.header
    weights = decode_weights(sections.weights, h.arch.weight_shapes())
    shapes = grid_shapes(h.height, h.width, h.arch.levels)
    grids = decode_latents(sections.latents, sections.escapes, shapes, weights.arm, h.prob_bits)
    return [g.astype(np.float64) for g in grids], len(sections.latents), h.height * h.width


def _ancestors(grids: list[np.ndarray], k: int, extra: int) -> list[np.ndarray]:
    """Co-located latents of grids k+2, k+3, ... (nearest upsampling), zero-filled to ``extra``."""
    h, w = grids[k].shape
    cols = []
    for j in range(k + 2, k + 2 + extra):
        if j < len(grids):
            f = 2 ** (j - k)
            up = np.repeat(np.repeat(grids[j], f, 0), f, 1)[:h, :w]
            cols.append(up)
        else:
            cols.append(np.zeros((h, w)))
    return cols


def _parent3x3(grids: list[np.ndarray], k: int) -> list[np.ndarray]:
    """The 8 neighbours of the co-located latent in grid k+1, at every position of grid k."""
    h, w = grids[k].shape
    if k + 1 >= len(grids):
        return [np.zeros((h, w))] * 8
    padded = np.pad(grids[k + 1], 1)
    cols = []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                window = padded[1 + dy :, 1 + dx :][
                    : grids[k + 1].shape[0], : grids[k + 1].shape[1]
                ]
                cols.append(coarser_colocated(window, (h, w)))
    return cols


def _local5(g: np.ndarray) -> np.ndarray:
    """log(0.05 + mean |y|) of the 24 latents around each latent (zeros outside the grid)."""
    a = np.pad(np.abs(g), 2)
    h, w = g.shape
    total = sum(a[dy : dy + h, dx : dx + w] for dy in range(5) for dx in range(5))
    return np.log(0.05 + (total - np.abs(g)) / 24)


def _block8(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-latent level of its 8x8 block, the [blocks] level map) of grid ``g``."""
    h, w = g.shape
    bh, bw = -(-h // 8), -(-w // 8)
    a = np.zeros((bh * 8, bw * 8))
    a[:h, :w] = np.abs(g)
    mean = a.reshape(bh, 8, bw, 8).mean((1, 3))
    levels = np.digitize(mean, BLOCK_LEVELS[1:]) + (mean > 0)
    per_latent = np.repeat(np.repeat(levels, 8, 0), 8, 1)[:h, :w]
    return per_latent.astype(np.float64), levels


def block_map_bytes(grids: list[np.ndarray]) -> float:
    """Zeroth-order entropy of every grid's ``block8`` level map, in bytes (each grid its own
    histogram): at most what a side channel would pay to send the maps."""
    total = 0.0
    for g in grids:
        levels = _block8(g)[1].ravel()
        p = np.bincount(levels) / levels.size
        p = p[p > 0]
        total += -(p * np.log2(p)).sum() * levels.size / 8
    return total


def contexts(grids: list[np.ndarray], variant: str) -> np.ndarray:
    """[N, inputs] ARM inputs of every latent (finest grid first, raster order); a
    :data:`BRANCHES` variant gets the base inputs and each latent's grid, one-hot."""
    base = gather_context(grids)
    if variant == "base":
        return base
    if variant in BRANCHES:
        onehot = np.concatenate(
            [np.tile(np.eye(len(grids))[k], (g.size, 1)) for k, g in enumerate(grids)], 0
        )
        return np.concatenate([base, onehot], 1)
    if variant in ORACLES:
        side = [_local5(g) if variant == "local5" else _block8(g)[0] for g in grids]
        return np.concatenate([base, np.concatenate([c.reshape(-1, 1) for c in side], 0)], 1)
    extra = []
    for k, g in enumerate(grids):
        cols = []
        if variant in ("ancestors", "both"):
            cols += _ancestors(grids, k, len(grids) - 2)
        if variant in ("parent3x3", "both"):
            cols += _parent3x3(grids, k)
        extra.append(np.stack(cols, -1).reshape(g.size, len(cols)))
    return np.concatenate([base, np.concatenate(extra, 0)], 1)


def laplace_bits(x: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Code length (bits) of integers ``x`` under a discretised Laplace, floored as the table."""
    b = torch.exp(log_scale)

    def cdf(z: torch.Tensor) -> torch.Tensor:
        t = (z - mu) / b
        return torch.where(
            t < 0, 0.5 * torch.exp(t.clamp(max=0)), 1 - 0.5 * torch.exp(-t.clamp(min=0))
        )

    p = cdf(x + 0.5) - cdf(x - 0.5)
    return -torch.log2(p.clamp(min=PROB_FLOOR))


def _net(inputs: int, hidden: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
        torch.nn.Linear(hidden, 2),
    )  # fmt: skip


def _bits(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = net(x)
    return laplace_bits(y, out[:, 0], out[:, 1].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))


def train(net: torch.nn.Module, ctx: np.ndarray, target: np.ndarray, steps: int, batch: int,
          lr: float) -> np.ndarray:  # fmt: skip
    """Fit ``net`` to the latents (Adam, cosine learning rate from ``lr``, random batches of
    ``batch`` latents); returns the bits of every latent after it."""
    x_all = torch.from_numpy(ctx).float()
    y_all = torch.from_numpy(target).float()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 100)
    for _ in range(steps):
        pick = torch.randint(0, x_all.shape[0], (min(batch, x_all.shape[0]),))
        loss = _bits(net, x_all[pick], y_all[pick]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return _bits(net, x_all, y_all).numpy()


def extended(base: torch.nn.Sequential, inputs: int) -> torch.nn.Sequential:
    """``base`` with more inputs whose first-layer weights start at zero: the same function, so
    a further fit of it starts where the base fit ended and can only use what the inputs add."""
    net = copy.deepcopy(base)
    first = base[0]
    wider = torch.nn.Linear(inputs, first.out_features)
    with torch.no_grad():
        wider.weight.zero_()
        wider.weight[:, : first.in_features] = first.weight
        wider.bias.copy_(first.bias)
    net[0] = wider
    return net


def extra_macs(variant: str, inputs: int) -> int:
    """Multiply-accumulates per latent that ``variant`` adds to the format's ARM."""
    if variant in BRANCHES:
        return 26 if "skip" in variant else 0
    return 16 * (inputs - 13)


class SideBranches(torch.nn.Module):
    """A fitted base network plus a :data:`BRANCHES` variant's branches, which start at zero (the
    same function as the base, as :func:`extended` does for more inputs)."""

    def __init__(self, base: torch.nn.Sequential, variant: str, n_ctx: int, n_grids: int):
        super().__init__()
        self.mlp, self.n_ctx = copy.deepcopy(base), n_ctx
        self.skip = torch.nn.Linear(n_ctx, 2, bias=False) if "skip" in variant else None
        self.grid = torch.nn.Linear(n_grids, 2, bias=False) if "grid" in variant else None
        hidden = base[0].out_features
        per_grid_hidden = variant == "gridhidden"
        self.hgrid = torch.nn.Linear(n_grids, hidden, bias=False) if per_grid_hidden else None
        for branch in (self.skip, self.grid, self.hgrid):
            if branch is not None:
                torch.nn.init.zeros_(branch.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x[:, : self.n_ctx]
        if self.hgrid is None:
            out = self.mlp(c)
        else:
            out = self.mlp[1:](self.mlp[0](c) + self.hgrid(x[:, self.n_ctx :]))
        if self.skip is not None:
            out = out + self.skip(c)
        if self.grid is not None:
            out = out + self.grid(x[:, self.n_ctx :])
        return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"of {VARIANTS + ORACLES + BRANCHES}"
    )
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--steps", type=int, default=1500, help="steps of each of the two stages")
    ap.add_argument("--batch", type=int, default=1 << 16, help="latents per step")
    ap.add_argument("--out", type=Path, help="append one JSON line per file and variant here")
    args = ap.parse_args()
    for path in args.files:
        grids, section_bytes, pixels = _latents(path)
        target = np.concatenate([g.ravel() for g in grids])
        sizes = [g.size for g in grids]
        base_ctx = contexts(grids, "base")
        for seed in (int(s) for s in args.seeds.split(",")):
            torch.manual_seed(seed)
            base = _net(base_ctx.shape[1], 16)
            train(base, base_ctx, target, args.steps, args.batch, 1e-2)
            for variant in args.variants.split(","):
                ctx = contexts(grids, variant)
                t = time.time()
                torch.manual_seed(seed)
                net = (
                    SideBranches(base, variant, base_ctx.shape[1], len(grids))
                    if variant in BRANCHES
                    else extended(base, ctx.shape[1])
                )
                bits = train(net, ctx, target, args.steps, args.batch, 3e-3)
                extra = extra_macs(variant, ctx.shape[1])
                per_grid = [float(b.sum() / 8) for b in np.split(bits, np.cumsum(sizes)[:-1])]
                row = {
                    "file": path.name, "variant": variant, "inputs": ctx.shape[1], "seed": seed,
                    "steps": args.steps, "bytes": round(float(bits.sum() / 8), 1),
                    "section_bytes": section_bytes,
                    "per_grid_bytes": [round(b, 1) for b in per_grid],
                    "extra_mac_per_px": round(extra * target.size / pixels, 1),
                    "side_bytes": round(block_map_bytes(grids), 1) if variant == "block8" else 0,
                    "seconds": round(time.time() - t, 1),
                }  # fmt: skip
                emit_json_line(row, args.out)


if __name__ == "__main__":
    main()
