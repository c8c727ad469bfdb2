"""Does an ARM that also sees every coarser grid pay once the latents train with it?

``context_probe.py`` fits ARMs to latents that were trained for the format's context, which
bounds the gain from below. This probe trains the whole model with the richer context, a float
model only (no file: the integer ARM and the format do not have the extra inputs): the
``ancestors`` context adds to the format's 13 inputs the co-located latents of grids k+2, k+3,
... (5 inputs, 0 where there is no such grid), all decoded before a latent under lnic's
wavefront schedule. Both variants start from the same initialisation (the extended ARM's extra
first-layer weights at zero, so both compute the same function at step 0) and train with the
same preset; the row holds the hard-rounded ``J = MSE + lambda * bpp`` of the latents (the
networks' bits are not in it: the extra inputs add 16 weights each, ~70 B at the module's step).

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/context_joint_probe.py \\
        --images dev03,dev12,dev30 --quality 4 --preset fast --seeds 0,1
    python benchmarks/context_joint_probe.py --compare

The ``gridbias`` variant (a learned (mu, log-scale) offset per grid, what the fixed-latent
``context_probe.py`` found worth 0.4-2.2% of the latents' bytes) runs the same way:

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/context_joint_probe.py \\
        --images dev12,dev14 --quality 4 --preset default --seeds 0 --variants base,gridbias
    python benchmarks/context_joint_probe.py --compare --variant gridbias
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from csv_rows import append_row, read_rows
from dev_probe import dev_image, git_commit
from recipe_probe import override

from lnic.encoder import train
from lnic.encoder.fitting import fit
from lnic.encoder.latent_adam import LatentAdam
from lnic.encoder.nets.arm import Arm, CausalContext, current_log_scale_floor
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.nets.entropy import laplace_bits
from lnic.encoder.nets.mlp import mlp_channels_first
from lnic.encoder.presets import QUALITY_LAMBDAS, get_preset
from lnic.encoder.sizing import choose_architecture
from lnic.encoder.soap import Soap
from lnic.encoder.train import BETAS, _loss
from lnic.model.arm import LOG_SCALE_MAX

OUT = Path(__file__).resolve().parent / "dev" / "context_joint.csv"
FIELDS = ["variant", "image", "quality", "seed", "preset", "J", "mse", "bpp", "seconds", "commit"]
A = TypeVar("A", bound=Arm)
EXTRA = 5
"""Ancestor inputs: grids k+2 .. k+6 (lnic has at most 7 grids)."""


def ancestor_rows(grids: list[torch.Tensor]) -> torch.Tensor:
    """[EXTRA, N]: the co-located latents of grids k+2, k+3, ... for every latent of grid k."""
    rows = []
    for k, g in enumerate(grids):
        h, w = g.shape
        cols = []
        for j in range(k + 2, k + 2 + EXTRA):
            if j < len(grids):
                f = 2 ** (j - k)
                cols.append(grids[j].repeat_interleave(f, 0).repeat_interleave(f, 1)[:h, :w])
            else:
                cols.append(g.new_zeros(h, w))
        rows.append(torch.stack(cols).reshape(EXTRA, h * w))
    return torch.cat(rows, 1)


def _adopt(cls: type[A], arm: Arm) -> A:
    """A ``cls`` (an :class:`Arm` subclass) sharing ``arm``'s layers, its own parts still unset."""
    new = cls.__new__(cls)
    torch.nn.Module.__init__(new)
    new.hidden = arm.hidden
    new.out = arm.out
    return new


def _rate(flat: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Total bits of ``flat`` as :meth:`Arm.bits` counts them, under the floor the preset sets
    at this step (the default preset's training-time lift)."""
    floor = current_log_scale_floor()
    return laplace_bits(flat, mu, log_scale.clamp(floor, LOG_SCALE_MAX)).sum()


class GridBiasArm(Arm):
    """The format's ARM plus a learned offset of (mu, log-scale) per grid (torch path only): 14
    weights and no MAC in a decoder, which would add a per-grid constant to the output layer's
    bias. The offsets start at zero, so the variant starts as the base computes."""

    @classmethod
    def from_arm(cls, arm: Arm, levels: int) -> GridBiasArm:
        new = _adopt(cls, arm)
        new.grid_offset = torch.nn.Parameter(torch.zeros(2 * levels))
        return new

    def bits(self, grids: list[torch.Tensor], native: bool = True) -> torch.Tensor:
        del native  # the offsets have no native kernel
        flat = torch.cat([g.reshape(-1) for g in grids])
        out = mlp_channels_first(CausalContext.apply(*grids), self.linears())
        index = torch.cat(
            [torch.full((g.numel(),), k, dtype=torch.long) for k, g in enumerate(grids)]
        )
        offset = self.grid_offset.view(-1, 2)[index]
        return _rate(flat, out[0] + offset[:, 0], out[1] + offset[:, 1])


_OPTIMIZERS = train._Optimizers
"""The encoder's optimisers (the hyper variant swaps in :func:`_hyper_optimizers`)."""
HYPER_GAINS = {"hyper": 1.0, "hyper2": 0.01, "hyper0": 0.0}
"""Variants of :class:`HyperArm` by the gain on the extra inputs' random first weights;
``hyper0`` is the control: zero weights on hyperlatents that stay zero (a saddle point), so it
computes what the base does, through the same torch path and random draws as the others."""
HYPER_FACTORS = (16, 32)
"""The hyperlatent grids' scales (image pixels per hyperlatent along each axis)."""


class HyperArm(Arm):
    """The format's ARM plus hyperlatents (torch path only), Cool-chic 5's idea: grids at
    1/16 and 1/32 of the image that are never synthesised and only tell the ARM about their
    region (one more ARM input per hyperlatent grid, the co-located hyperlatent of every latent).
    They are rounded with a straight-through gradient and cost the bits of a factorised
    Laplace (mean 0, one learned log-scale per grid); they learn with the latents (Adam,
    :func:`_hyper_optimizers`). At the start the hyperlatents are 0 and the extra inputs'
    weights random (a zero start for both is a saddle point), so the variant starts as the base
    computes."""

    @classmethod
    def from_arm(cls, arm: Arm, height: int, width: int, gain: float = 1.0) -> HyperArm:
        """``gain`` scales the extra inputs' random first weights (``hyper2``: 0.01, so that
        the hyperlatents' first steps, +-0.16 each under Adam, barely move the ARM's output
        until those weights have grown)."""
        new = _adopt(cls, arm)
        first = arm.hidden[0]
        extra = len(HYPER_FACTORS)
        wider = torch.nn.Linear(first.in_features + extra, first.out_features)
        with torch.no_grad():
            wider.weight[:, first.in_features :] *= gain
            wider.weight[:, : first.in_features] = first.weight
            wider.bias.copy_(first.bias)
        new.hidden[0] = wider
        new.hyper = torch.nn.ParameterList(
            torch.nn.Parameter(torch.zeros(-(-height // f), -(-width // f))) for f in HYPER_FACTORS
        )
        new.hyper_log_scale = torch.nn.Parameter(torch.zeros(extra))
        new._index: dict[tuple, torch.Tensor] = {}
        return new

    def _rows(self, grids: list[torch.Tensor], hyper: list[torch.Tensor]) -> torch.Tensor:
        """[len(HYPER_FACTORS), N]: the co-located hyperlatent of every latent of ``grids``."""
        key = tuple(tuple(g.shape) for g in grids)
        if key not in self._index:
            per_grid = []
            for k, g in enumerate(grids):
                h, w = g.shape
                flat = []
                for f, hg in zip(HYPER_FACTORS, hyper):
                    ys = torch.clamp(torch.arange(h) * 2**k // f, max=hg.shape[0] - 1)
                    xs = torch.clamp(torch.arange(w) * 2**k // f, max=hg.shape[1] - 1)
                    flat.append((ys[:, None] * hg.shape[1] + xs[None, :]).reshape(-1))
                per_grid.append(torch.stack(flat))
            self._index[key] = torch.cat(per_grid, 1)
        index = self._index[key]
        return torch.stack([hg.reshape(-1)[index[j]] for j, hg in enumerate(hyper)])

    def bits(self, grids: list[torch.Tensor], native: bool = True) -> torch.Tensor:
        del native  # the extra inputs have no native kernel
        hyper = [h + (torch.round(h) - h).detach() for h in self.hyper]
        flat = torch.cat([g.reshape(-1) for g in grids])
        ctx = torch.cat([CausalContext.apply(*grids), self._rows(grids, hyper)], 0)
        out = mlp_channels_first(ctx, self.linears())
        side = sum(
            _rate(h.reshape(-1), torch.zeros_like(h.reshape(-1)), s.expand(h.numel()))
            for h, s in zip(hyper, self.hyper_log_scale)
        )
        return _rate(flat, out[0], out[1]) + side


def _hyper_optimizers(model: OverfittedCodec, per_grid: bool = False) -> object:
    """The encoder's optimisers, with a :class:`HyperArm`'s hyperlatents moved from the networks'
    SOAP to the latents' Adam (they are latents: one value per region, not weights)."""
    opt = _OPTIMIZERS.__new__(_OPTIMIZERS)
    hyper = list(getattr(model.arm, "hyper", []))
    ids = {id(p) for p in hyper}
    latents = list(model.latents.grids) + hyper
    networks = [
        *model.upsampler.parameters(),
        *model.synthesis.parameters(),
        *(p for p in model.arm.parameters() if id(p) not in ids),
    ]
    del per_grid  # the probe's presets keep one rate for every grid
    opt.latents = LatentAdam([{"params": latents}], betas=BETAS)
    opt.networks = Soap(networks, betas=BETAS)
    return opt


class AncestorArm(Arm):
    """The format's ARM with EXTRA more inputs (torch path only)."""

    @classmethod
    def from_arm(cls, arm: Arm) -> AncestorArm:
        new = _adopt(cls, arm)
        first = arm.hidden[0]
        wider = torch.nn.Linear(first.in_features + EXTRA, first.out_features)
        with torch.no_grad():
            wider.weight.zero_()
            wider.weight[:, : first.in_features] = first.weight
            wider.bias.copy_(first.bias)
        new.hidden[0] = wider
        return new

    def bits(self, grids: list[torch.Tensor], native: bool = True) -> torch.Tensor:
        del native  # the extra inputs have no native kernel
        flat = torch.cat([g.reshape(-1) for g in grids])
        ctx = torch.cat([CausalContext.apply(*grids), ancestor_rows(grids)], 0)
        out = mlp_channels_first(ctx, self.linears())
        return _rate(flat, out[0], out[1])


def run(args: argparse.Namespace) -> None:
    done = {(r["variant"], r["image"], r["quality"], r["seed"], r["preset"])
            for r in read_rows(args.out)}  # fmt: skip
    lam = QUALITY_LAMBDAS[args.quality]
    for seed in args.seeds.split(","):
        for image in args.images.split(","):
            for variant in args.variants.split(","):
                label = f"{args.preset}-notrial" if args.no_trial else args.preset
                key = (variant, image, str(args.quality), seed, label)
                if key in done:
                    continue
                rgb = dev_image(image)
                h, w = rgb.shape[:2]
                target = torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0)
                torch.manual_seed(int(seed))
                model = OverfittedCodec(choose_architecture(h, w, 3), h, w)
                if variant == "ancestors":
                    model.arm = AncestorArm.from_arm(model.arm)
                elif variant == "gridbias":
                    model.arm = GridBiasArm.from_arm(model.arm, len(model.latents.grids))
                elif variant in HYPER_GAINS:
                    model.arm = HyperArm.from_arm(model.arm, h, w, HYPER_GAINS[variant])
                t = time.time()
                preset = get_preset(args.preset)
                if args.no_trial:
                    preset = override(preset, ["noise.finest_grid_trial_ratio=0"])
                hyper = variant in HYPER_GAINS
                train._Optimizers = _hyper_optimizers if hyper else _OPTIMIZERS
                fit(model, target, lam, preset.with_steps(args.steps) if args.steps else preset)
                with torch.no_grad():
                    j, mse, bpp = _loss(model, target, torch.tensor(lam), None)
                row = dict(zip(FIELDS[:5], key))
                row |= {"J": float(j), "mse": float(mse), "bpp": round(float(bpp), 6)}
                row |= {"seconds": round(time.time() - t, 1), "commit": git_commit()}
                append_row(args.out, FIELDS, row)
                print(row, flush=True)


def compare(args: argparse.Namespace) -> None:
    pairs: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in read_rows(args.out):
        pairs[(r["image"], r["quality"], r["seed"], r["preset"])][r["variant"]] = r
    print("| image | q | seed | preset | base bpp | rate at equal D |")
    print("|---|---|---|---|---|---|")
    gains = []
    for (image, q, seed, preset), by in sorted(pairs.items()):
        if {args.base, args.variant} <= set(by):
            a, b = by[args.base], by[args.variant]
            gain = (float(b["J"]) - float(a["J"])) / QUALITY_LAMBDAS[int(q)] / float(a["bpp"])
            gains.append(gain)
            print(f"| {image} | {q} | {seed} | {preset} | {float(a['bpp']):.4f} | {gain:+.1%} |")
    if gains:
        print(f"\nmean over {len(gains)} pairs: {np.mean(gains):+.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default="dev03,dev12,dev30")
    parser.add_argument("--quality", type=int, default=4)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument(
        "--variants",
        default="base,ancestors",
        help="of base, ancestors, gridbias, hyper, hyper2, hyper0",
    )
    parser.add_argument("--variant", default="ancestors", help="--compare: this one with --base")
    parser.add_argument("--base", default="base", help="--compare: the variant compared with")
    parser.add_argument("--steps", type=int, help="run this many steps (a smoke test)")
    parser.add_argument(
        "--no-trial",
        action="store_true",
        help="no finest-grid trial (the rule alone decides), so that a variant and the base "
        "cannot go different ways on a photo near the trial's margin",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--compare", action="store_true", help="print the comparison table")
    args = parser.parse_args()
    compare(args) if args.compare else run(args)


if __name__ == "__main__":
    main()
