"""Encoder presets and the quality -> lambda table."""

from __future__ import annotations

from dataclasses import dataclass

QUALITY_LAMBDAS: dict[int, float] = {
    1: 0.02,
    2: 0.01,
    3: 0.005,
    4: 0.0025,
    5: 0.0012,
    6: 0.0006,
    7: 0.0003,
    8: 0.00015,
}
"""``--quality`` -> lambda in ``loss = MSE + lambda * bits/pixel`` (MSE of 0..1 images).

Spaced by about 2x so that consecutive qualities differ by ~0.25-0.5 dB-ish steps of rate;
quality 1 lands near 0.1 bpp and quality 8 near 2 bpp on Kodak.
"""


@dataclass(frozen=True)
class Preset:
    """How hard the encoder works. Steps are full-image optimisation steps.

    ``noise_steps`` train with the soft-round + uniform-noise proxy of quantization while the
    soft-round temperature anneals from ``temperature_start`` to ``temperature_end``;
    ``ste_steps`` then fine-tune with hard rounding and straight-through gradients at a lower
    learning rate, so the model sees exactly what the decoder will see. ``lr`` is the peak
    learning rate of the latents, ``net_lr`` that of the networks (``None``: the same).

    Latents start at zero and must grow to several units before the image appears; with one
    learning rate of 1e-2 that took ~150 of the fast preset's 340 steps. Latents at 0.05 with
    networks at 1e-2 reach in 100 steps what took 250 (256x256 crop of kodim23, fast preset,
    quality 4: 30.53 dB at 0.424 bpp instead of 27.31 dB at 0.384 bpp). Latents at 0.1 gained a
    little more there but collapsed on a 64x48 crop (18 dB), and the networks diverge on some
    images above 1e-2.
    ``adam_eps``: latent gradients of a mean-squared-error loss are ~1e-9 on a 768x512 image,
    below Adam's usual 1e-8, which then damps their updates (no gain measured at full size).
    ``warmup_steps`` ramps the learning rates up linearly; ``clip_grad`` clips the networks'
    gradient norm; ``rate_warmup`` ramps lambda from 0 over that fraction of the noise phase.
    All are off in the presets: they are knobs for probes
    (``benchmarks/recipe_probe.py --set clip_grad=0.01``), see benchmarks/training_notes.md.
    """

    name: str
    noise_steps: int
    ste_steps: int
    lr: float = 0.16
    net_lr: float | None = 1e-2
    ste_lr: float = 1e-3
    beta2: float = 0.999
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    clip_grad: float | None = None
    rate_warmup: float = 0.0
    temperature_start: float = 0.3
    temperature_end: float = 0.1
    noise: str = "gaussian"
    noise_start: float = 0.25
    noise_end: float = 0.1
    compile: bool = True


PRESETS: dict[str, Preset] = {
    "fast": Preset("fast", noise_steps=300, ste_steps=40),
    "default": Preset("default", noise_steps=1000, ste_steps=100),
    "slow": Preset("slow", noise_steps=3000, ste_steps=300),
}


def get_preset(name: str) -> Preset:
    from lnic.errors import InputError

    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name]
