"""How hard does Adam's eps damp the latents' updates? The second moments of one dev-set encode.

Adam moves a parameter by ``lr * m / (sqrt(v) + eps)``: where ``sqrt(v)`` is near ``eps`` the
update shrinks. The latents' gradients scale as 1 / pixels (the loss is a mean over pixels), so
on a 768x512 image many of them sit near the default eps of 1e-8. This trains one development
photo as the encoder does (same seed, model and preset; the float model only, no file) and at
a few steps records, per grid (finest first), the 10/50/90th percentiles of ``sqrt(v_hat)`` and
the share of latents below ``eps``::

    OMP_NUM_THREADS=1 python benchmarks/adam_state_probe.py --image dev14 --quality 4 --stop 1000

Rows go to ``benchmarks/dev/adam_state.jsonl`` (one JSON object per record point).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from csv_rows import emit_json_line
from dev_probe import git_commit
from trajectory_probe import fit_start

from lnic.encoder.fitting import fit
from lnic.encoder.latent_adam import LatentAdam
from lnic.encoder.presets import QUALITY_LAMBDAS, get_preset

OUT = Path(__file__).resolve().parent / "dev" / "adam_state.jsonl"
MARKS = (50, 200, 500, 1000, 2000, 3000)
SAMPLE = 200_000
"""Latents per grid drawn for the percentiles (``torch.quantile`` refuses larger inputs)."""


class _Stop(Exception):
    """Ends the training at ``--stop`` steps."""


def second_moments(optimizer: LatentAdam, grids: list[torch.Tensor]) -> list[dict]:
    """Per grid: percentiles of ``sqrt(v_hat)`` and the share below the optimizer's eps."""
    rows = []
    for grid in grids:
        group = next(g for g in optimizer.param_groups if any(p is grid for p in g["params"]))
        state = optimizer.state[grid]
        v_hat = state["exp_avg_sq"] / (1 - group["betas"][1] ** float(state["step"]))
        root = v_hat.sqrt().flatten()
        sample = root[torch.randperm(len(root))[:SAMPLE]]
        q = torch.quantile(sample, torch.tensor([0.1, 0.5, 0.9])).tolist()
        eps = group["eps"]
        below = (root < eps).float().mean().item()
        rows.append({"p10": q[0], "p50": q[1], "p90": q[2], "below_eps": below})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="dev14")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--stop", type=int, default=1000, help="stop after this many steps")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    target, model = fit_start(args.image, args.seed)
    grids = list(model.latents.grids)
    seen: list[LatentAdam] = []
    plain_step = LatentAdam.step

    def capture(optimizer: LatentAdam) -> None:
        plain_step(optimizer)
        if not seen and any(p is grids[0] for g in optimizer.param_groups for p in g["params"]):
            seen.append(optimizer)

    LatentAdam.step = capture  # the latents' optimiser, found at its first step
    base = {"image": args.image, "quality": args.quality, "seed": args.seed, "commit": git_commit()}

    def progress(done: int, total: int, stats: dict[str, float]) -> None:
        if done in MARKS or done == args.stop:
            row = base | {"step": done, "of": total, "J": stats["loss"], "proxy_bpp": stats["bpp"]}
            emit_json_line(row | {"grids": second_moments(seen[0], grids)}, args.out)
        if done >= args.stop:
            raise _Stop

    try:
        fit(model, target, QUALITY_LAMBDAS[args.quality], get_preset(args.preset), progress)
    except _Stop:
        pass
    finally:
        LatentAdam.step = plain_step


if __name__ == "__main__":
    main()
