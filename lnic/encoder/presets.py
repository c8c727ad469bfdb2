"""Encoder presets and the quality -> lambda table."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

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

    ``noise_steps`` train with a differentiable proxy of quantization while the soft-round
    temperature anneals from ``temperature_start`` to ``temperature_end``: with
    ``noise="gaussian"`` (default, as C3 and Cool-chic) rate and synthesis both see
    ``soft_round(soft_round(y) + n)`` with Gaussian ``n`` whose std anneals from ``noise_start``
    to ``noise_end``; ``"uniform"`` is the older proxy (rate on ``soft_round(y) + u``).
    ``ste_steps`` then fine-tune with hard rounding and straight-through gradients at
    ``ste_lr``, so the model sees exactly what the decoder will see. The proxy ends colder
    (temperature 0.05) than its noise (0.15): with both at 0.1 a third of the latents sat at
    half-integers, which ``soft_round`` keeps and rounding destroys (the estimate was ~0.5 dB
    and ~15% of rate better than the file); this end makes the proxy honest (training notes,
    session 3).

    ``net_optimizer``: the networks train with SOAP (:mod:`lnic.encoder.soap`, as Cool-chic 5)
    or Adam; the latents always use Adam. With SOAP the default preset's mean BD-rate against
    Cool-chic 5.0 on kodim01/05/14/23 went from +79.3% to +61.7% (benchmarks/kodak/lnic.md).

    Learning rates: ``lr`` is the peak rate of the latents, ``net_lr`` that of upsampling and
    synthesis, ``arm_lr`` that of the entropy model (``None``: ``net_lr``). Latents start at
    zero and must become large (many quantization steps) for a precise image; 0.16 is
    Cool-chic's effective latent rate (gain 16 x 1e-2) and beat 0.05 (benchmarks/
    training_notes.md, session 2); networks diverge on some images above 1e-2.

    ``beta2`` is Adam's second-moment decay. 0.999 averages over ~1000 steps, longer than the
    whole default schedule, so the large gradients of the first steps kept damping the updates
    of the slow rate-distortion phase that follows; 0.95 (~20 steps) fixed that: kodim01
    quality 4 after 500 steps, 29.32 dB at 0.447 bpp instead of 28.69 dB at 0.525 bpp.

    Knobs off in the presets, for probes (``benchmarks/recipe_probe.py --set clip_grad=0.01``):
    ``adam_eps``, ``warmup_steps`` (linear learning-rate ramp), ``clip_grad`` (networks'
    gradient norm), ``rate_warmup`` (lambda ramped from 0 over that fraction of the noise
    phase), ``latent_step_lr`` (learn one quantization step per latent grid at this peak rate,
    :class:`lnic.encoder.nets.codec.LatentPyramid`), ``coarse_steps`` (that many steps on the
    half-resolution image first, :mod:`lnic.encoder.coarse`; they scale with the image like
    the other steps), ``decay_power`` (the noise phase's cosine runs over ``progress**decay_power``:
    below 1 the learning rate falls sooner). None gained at full size; see
    benchmarks/training_notes.md (sessions 2 and 4).
    """

    name: str
    noise_steps: int
    ste_steps: int
    lr: float = 0.16
    net_lr: float | None = 1e-2
    arm_lr: float | None = None
    ste_lr: float = 1e-3
    beta2: float = 0.95
    adam_eps: float = 1e-8
    warmup_steps: int = 0
    clip_grad: float | None = None
    rate_warmup: float = 0.0
    net_optimizer: Literal["adam", "soap"] = "soap"
    temperature_start: float = 0.3
    temperature_end: float = 0.05
    noise: Literal["gaussian", "uniform"] = "gaussian"
    noise_start: float = 0.25
    noise_end: float = 0.15
    latent_step_lr: float | None = None
    coarse_steps: int = 0
    decay_power: float = 1.0
    reference_pixels: int | None = None

    def scaled(self, pixels: int) -> Preset:
        """The preset for an image of ``pixels``: same time budget, so more steps when smaller.

        Steps are set for ``reference_pixels`` (a 768x512 image); a step costs about in
        proportion to the pixels, so smaller images get proportionally more steps, at most
        :data:`MAX_STEP_SCALE` times as many. ``reference_pixels=None`` keeps the steps as set.
        """
        if self.reference_pixels is None or pixels >= self.reference_pixels:
            return self
        factor = min(MAX_STEP_SCALE, self.reference_pixels / pixels)
        return replace(
            self,
            noise_steps=round(self.noise_steps * factor),
            ste_steps=round(self.ste_steps * factor),
            coarse_steps=round(self.coarse_steps * factor),
        )


KODAK_PIXELS = 768 * 512

MAX_STEP_SCALE = 4.0
"""Images smaller than a preset's ``reference_pixels`` get at most this many times its steps."""

PRESETS: dict[str, Preset] = {
    "fast": Preset("fast", noise_steps=480, ste_steps=10, reference_pixels=KODAK_PIXELS),
    "default": Preset("default", noise_steps=3900, ste_steps=10, reference_pixels=KODAK_PIXELS),
    "slow": Preset("slow", noise_steps=6170, ste_steps=30, reference_pixels=KODAK_PIXELS),
}
"""Step budgets set by time on a 2-core CPU for a 768x512 image (benchmarks/encode_speed.md;
smaller images get more steps in the same time, see :meth:`Preset.scaled`).

``fast`` stays within a minute (490 steps). ``default`` aims at five minutes: 3,910 steps with
the native kernels of :mod:`lnic.encoder.native`, 191 s in session 12; the machine instances of
this project have run the same step in 0.040 s (session 12) to 0.072 s (session 11), where it
would take about 5.2 minutes. 3,910 steps is where kodim01 at quality 4 crossed +10% of rate
against Cool-chic 5.0 in session 12 (+9.9%; +10.9% at 3,310, +9.8% at 4,510: the curve is
nearly flat there); sessions 9-11 ran 3,310, session 8 2,250, session 7 1,200 of 0.19 s.
``slow`` has no time target (6,200 steps: 246 s in session 13, 5.5 minutes in session 10)
and gives the best rate-distortion. The straight-through phase is short: its 85 steps lowered
the rounded loss by 0.1% on crops, and 925 + 10 steps beat 850 + 85 on kodim01 (training
notes, session 6).
"""


def get_preset(name: str) -> Preset:
    from lnic.errors import InputError

    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name]
