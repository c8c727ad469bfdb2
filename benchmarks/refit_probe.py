"""Are the networks or the latents what a default encode leaves unfinished? Refits on fixed latents.

Trains one development-set photo as the encoder does (the float model, no file; the same seed,
preset and lambda), rounds its latents and then keeps them fixed: every further step can only
improve the networks for those latents. Three refits, each ``--refit-steps`` steps of Adam on
the networks alone (cosine learning rate from ``--lr``), from the encode's end state:

- ``synthesis``: upsampling and synthesis on the MSE (the latents' rate cannot change);
- ``wider``: the same with the synthesis widened to ``--wide`` hidden units, the new units
  starting silent (their output weights at zero, so the refit starts from the same image):
  what more capacity is worth for these latents, before the bits of its weights;
- ``arm``: the ARM on the latents' bits (the image cannot change).

If a refit of the networks buys much, the encode ends with under-trained networks (their
learning rate or their share of the steps is the lever); if only the wider synthesis buys much,
capacity is; if neither, what is left is in the latents' arrangement. A row per refit goes to
``benchmarks/dev/refit_probe.jsonl``; the trained model is cached (``--cache``) so that refits
can be rerun without the encode::

    OMP_NUM_THREADS=1 python benchmarks/refit_probe.py --image dev12 --quality 4 --seed 0
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path

import torch
from csv_rows import emit_json_line
from dev_probe import git_commit
from trajectory_probe import fit_start

from lnic.encoder.fitting import fit
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.nets.synthesis import Synthesis
from lnic.encoder.presets import QUALITY_LAMBDAS, get_preset
from lnic.encoder.train import BETAS

OUT = Path(__file__).resolve().parent / "dev" / "refit_probe.jsonl"


def rounded(model: OverfittedCodec) -> list[torch.Tensor]:
    return [torch.round(g.detach()) for g in model.latents.grids]


def psnr(model: OverfittedCodec, grids: list[torch.Tensor], target: torch.Tensor) -> float:
    with torch.no_grad():
        recon = model.synthesis(model.upsampler(grids)).clamp(0, 1)
        return -10 * math.log10(float(torch.mean((recon - target) ** 2)))


def bits(model: OverfittedCodec, grids: list[torch.Tensor]) -> float:
    with torch.no_grad():
        return float(model.arm.bits(grids))


def widened(synthesis: Synthesis, hidden: int, seed: int) -> Synthesis:
    """``synthesis`` with ``hidden`` hidden units: the trained ones copied, the new ones with
    fresh small input weights and zero output weights (the same function at the start)."""
    old = synthesis.lin1.out_features
    torch.manual_seed(seed)
    wide = Synthesis(synthesis.lin1.in_features, hidden, synthesis.lin2.out_features)
    with torch.no_grad():
        wide.lin1.weight[:old] = synthesis.lin1.weight
        wide.lin1.bias[:old] = synthesis.lin1.bias
        wide.lin2.weight.zero_()
        wide.lin2.weight[:, :old] = synthesis.lin2.weight
        wide.lin2.bias.copy_(synthesis.lin2.bias)
        for name in ("conv_a", "conv_b"):
            getattr(wide, name).load_state_dict(getattr(synthesis, name).state_dict())
    return wide


def refit(params: list[torch.nn.Parameter], loss_fn, steps: int, lr: float) -> None:
    opt = torch.optim.Adam(params, lr=lr, betas=BETAS)  # the encoder's moment decays
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()
        sched.step()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--image", required=True)
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="default")
    ap.add_argument("--refit-steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--wide", type=int, default=64)
    ap.add_argument("--cache", type=Path, help="trained model (.pt): loaded if present, else saved")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    target, model = fit_start(args.image, args.seed)
    pixels = target.shape[1] * target.shape[2]
    lam = QUALITY_LAMBDAS[args.quality]
    encode_s = None  # the model came from --cache: no encode was timed
    if args.cache is not None and args.cache.is_file():
        model.load_state_dict(torch.load(args.cache))
    else:
        started = time.time()
        fit(model, target, lam, get_preset(args.preset))
        encode_s = round(time.time() - started, 1)
        if args.cache is not None:
            torch.save(model.state_dict(), args.cache)
    grids = rounded(model)
    base = {"image": args.image, "quality": args.quality, "seed": args.seed}
    base |= {"preset": args.preset, "commit": git_commit(), "refit_steps": args.refit_steps}
    base |= {"lr": args.lr, "encode_s": encode_s}
    p0, b0 = psnr(model, grids, target), bits(model, grids)
    emit_json_line({**base, "refit": "none", "psnr": p0, "latent_bpp": b0 / pixels}, args.out)

    def mse_of(m: OverfittedCodec):
        return lambda: torch.mean((m.synthesis(m.upsampler(grids)) - target) ** 2)

    for name in ("synthesis", "wider", "arm"):
        m = copy.deepcopy(model)
        t = time.time()
        if name == "arm":
            refit(
                list(m.arm.parameters()),
                lambda m=m: m.arm.bits(grids) / pixels,
                args.refit_steps,
                args.lr,
            )
        else:
            if name == "wider":
                m.synthesis = widened(m.synthesis, args.wide, args.seed)
            params = [*m.upsampler.parameters(), *m.synthesis.parameters()]
            refit(params, mse_of(m), args.refit_steps, args.lr)
        p, b = psnr(m, grids, target), bits(m, grids)
        row = {**base, "refit": name, "psnr": p, "latent_bpp": b / pixels}
        row |= {
            "d_psnr": p - p0,
            "d_latent_bits": (b - b0) / b0,
            "seconds": round(time.time() - t, 1),
        }
        if name == "wider":
            row["hidden"] = args.wide
        emit_json_line(row, args.out)


if __name__ == "__main__":
    main()
