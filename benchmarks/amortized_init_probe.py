"""Does a consistent start help? An amortized start for the per-image fit, as a probe.

``train`` fits one shared decoder (ARM, upsampling, synthesis of the default architecture) and
a small convolutional analysis (image -> the seven latent grids) across development photos,
on random 256x256 crops through the training proxy, at one lambda; six photos are held out.
``encode`` then runs ``dev_probe.py`` on a held-out photo with the model started from that
checkpoint (networks = the shared ones, latents = the analysis of the photo) instead of random
networks and zero latents. Nothing of this is in the codec: it measures whether a start that is
already a (weak) codec shortens the fit, the idea behind shipping an initialisation.

    python benchmarks/amortized_init_probe.py train --steps 6000 --out amort_q4.pt
    OMP_NUM_THREADS=1 python benchmarks/amortized_init_probe.py encode amort_q4.pt \\
        --tag amort1 --images dev12 --seeds 0 --qualities 4 --out probes.csv

``own`` bounds what any start could give: the fit starts from the photo's own trained networks
(latents zero), its own trained latents (networks fresh) or both, taken from a model saved after a
default encode (``torch.save(encode_array(rgb, 4, seed=0).model, "dev12-q4-s0.pt")``):

    OMP_NUM_THREADS=1 python benchmarks/amortized_init_probe.py own dev12-q4-s0.pt nets \\
        --tag ownnets --images dev12 --seeds 0 --qualities 4 --out probes.csv
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from dev_probe import dev_image
from torch import nn

from lnic.encoder import train
from lnic.encoder.native.ops import mean_squared_error
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.model.architecture import Architecture

HELD_OUT = ("dev01", "dev03", "dev12", "dev17", "dev23", "dev26")
"""The photos the shared model never sees (the ones the probes encode)."""

LEVELS = 7


class Analysis(nn.Module):
    """image [3, H, W] -> the latent grids, finest first, each ``ceil(H / 2^k) x ceil(W / 2^k)``:
    two full-resolution 3x3 layers, then a stride-2 layer and a residual 3x3 layer per level,
    a 3x3 head per grid with a learned gain."""

    def __init__(self, feat: int = 24) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, feat, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(feat, feat, 3, padding=1),
            nn.ReLU(),
        )
        self.down = nn.ModuleList(
            [nn.Conv2d(feat, feat, 3, stride=2, padding=1) for _ in range(LEVELS - 1)]
        )
        self.mix = nn.ModuleList([nn.Conv2d(feat, feat, 3, padding=1) for _ in range(LEVELS - 1)])
        self.heads = nn.ModuleList([nn.Conv2d(feat, 1, 3, padding=1) for _ in range(LEVELS)])
        self.gain = nn.Parameter(torch.full((LEVELS,), 4.0))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.stem(x[None])
        out = [self.heads[0](f)[0, 0] * self.gain[0]]
        for k in range(LEVELS - 1):
            f = F.relu(self.down[k](f))
            f = F.relu(self.mix[k](f)) + f
            out.append(self.heads[k + 1](f)[0, 0] * self.gain[k + 1])
        return out


def _as_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.transpose(2, 0, 1).astype(np.float32) / 255.0).contiguous()


def fit_shared(args: argparse.Namespace) -> None:
    """The shared decoder and the analysis, fitted on random crops of the other photos."""
    torch.manual_seed(0)
    random.seed(0)
    names = [f"dev{i:02d}" for i in range(1, 37) if f"dev{i:02d}" not in HELD_OUT]
    photos = [_as_tensor(dev_image(n)) for n in names]
    crop = args.crop
    codec = OverfittedCodec(Architecture(levels=LEVELS), crop, crop)
    analysis = Analysis()
    nets = codec.network_parameters()
    groups = [
        {"params": nets, "lr": args.net_lr, "peak": args.net_lr},
        {"params": list(analysis.parameters()), "lr": args.analysis_lr, "peak": args.analysis_lr},
    ]
    opt = torch.optim.Adam(groups)
    t0 = time.time()
    for i in range(args.steps):
        frac = i / max(args.steps - 1, 1)
        for g in opt.param_groups:
            g["lr"] = g["peak"] * 0.5 * (1 + math.cos(math.pi * frac))
        x = random.choice(photos)
        y0 = random.randrange(x.shape[1] - crop + 1)
        x0 = random.randrange(x.shape[2] - crop + 1)
        x = x[:, y0 : y0 + crop, x0 : x0 + crop]
        x = (x.flip(2) if random.random() < 0.5 else x).contiguous()
        temperature, noise = torch.tensor(0.3 - 0.2 * frac), torch.tensor(0.25 - 0.1 * frac)
        q = [train.proxy(g.contiguous(), temperature, noise) for g in analysis(x)]
        mse = mean_squared_error(codec.synthesis(codec.upsampler(q)), x)
        bpp = codec.arm.bits(q) / (crop * crop)
        loss = mse + args.lmbda * bpp
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*analysis.parameters(), *nets], 1.0)
        opt.step()
        if i % 100 == 0 or i == args.steps - 1:
            psnr = -10 * math.log10(float(mse))
            print(f"{i} {time.time() - t0:.0f}s psnr {psnr:.2f} bpp {float(bpp):.4f}", flush=True)
    nets_state = {k: v for k, v in codec.state_dict().items() if not k.startswith("latents")}
    torch.save({"nets": nets_state, "analysis": analysis.state_dict()}, args.out)


def encode(checkpoint: str, probe_args: list[str]) -> None:
    """``dev_probe.py PROBE_ARGS`` with every model started from ``checkpoint``."""
    state = torch.load(checkpoint, weights_only=False)
    image = probe_args[probe_args.index("--images") + 1]
    if "," in image:
        raise SystemExit("encode takes one image per run")
    analysis = Analysis()
    analysis.load_state_dict(state["analysis"])
    with torch.no_grad():
        start = [g.clone() for g in analysis(_as_tensor(dev_image(image)))]

    def started(arch: Architecture, h: int, w: int) -> OverfittedCodec:
        model = OverfittedCodec(arch, h, w)
        model.load_state_dict(state["nets"], strict=False)
        with torch.no_grad():
            for g, v in zip(model.latents.grids, start):
                g.copy_(v)
        return model

    _probe_from(started, probe_args)


def own(model_file: str, part: str, probe_args: list[str]) -> None:
    """``dev_probe.py PROBE_ARGS`` with every model started from ``part`` ("nets", "latents"
    or "both") of the trained model in ``model_file``, the rest as the encoder starts it."""
    trained = torch.load(model_file, weights_only=False)
    if part not in ("nets", "latents", "both"):
        raise SystemExit("own takes nets, latents or both")

    def started(arch: Architecture, h: int, w: int) -> OverfittedCodec:
        model = OverfittedCodec(arch, h, w)
        with torch.no_grad():
            if part in ("nets", "both"):
                for p, q in zip(model.network_parameters(), trained.network_parameters()):
                    p.copy_(q)
            if part in ("latents", "both"):
                for g, v in zip(model.latents.grids, trained.latents.grids):
                    g.copy_(v)
        return model

    _probe_from(started, probe_args)


def _probe_from(
    started: Callable[[Architecture, int, int], OverfittedCodec], probe_args: list[str]
) -> None:
    """``dev_probe.py PROBE_ARGS`` with every model the encoder builds made by ``started``."""
    import dev_probe

    import lnic.encoder.encode as encoder

    encoder.OverfittedCodec = started  # type: ignore[misc,assignment]
    if "--set" not in probe_args:  # dev_probe's encode_array path, which builds the model here
        probe_args = [*probe_args, "--set", "noise.rate_boost=1.0"]
    sys.argv = ["dev_probe.py", *probe_args]
    dev_probe.main()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "encode":
        encode(sys.argv[2], sys.argv[3:])
        return
    if len(sys.argv) > 3 and sys.argv[1] == "own":
        own(sys.argv[2], sys.argv[3], sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train"])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--lmbda", type=float, default=0.0025)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--net-lr", type=float, default=1e-3)
    parser.add_argument("--analysis-lr", type=float, default=3e-4)
    parser.add_argument("--out", required=True)
    fit_shared(parser.parse_args())


if __name__ == "__main__":
    main()
