"""Encoder presets: named lists of training phases, and the quality -> lambda table.

A preset is a name plus the phases :func:`lnic.encoder.train.fit` runs in order, one loop over
all of them; each phase is a frozen dataclass that knows its own schedule (:meth:`at` gives
the learning rates and the quantization proxy of each of its steps). This module imports
neither torch nor the rest of lnic, so that ``lnic encode --help`` can list the presets cheaply.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar, NamedTuple

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

KODAK_PIXELS = 768 * 512

MAX_STEP_SCALE = 4.0
"""Images smaller than a preset's ``reference_pixels`` get at most this many times its steps."""

STEP_RAMP_PIXELS = 64 * 64
"""Images of at most this many pixels get no extra steps; above, the scale grows with the pixel
count (``pixels / STEP_RAMP_PIXELS``) until :data:`MAX_STEP_SCALE` (128x128 pixels).

A step of a small image costs a fixed ~5-8 ms (kernel calls, the optimisers) rather than its
pixels, and a small image's small decoder (:mod:`lnic.encoder.sizing`) is fitted sooner: on
dev-set crops (dev05, dev11, qualities 2 and 5, fast preset) 16x16 and 64x64 files are no
better after 980 steps than after 490, while 128x128 ones still gain from 1,960
(``benchmarks/small_images/arch.md``).
"""

SMALL_IMAGE_STEPS = 490
"""The most steps any preset runs on an image of at most :data:`STEP_RAMP_PIXELS` pixels; the
cap grows with the square of ``pixels / STEP_RAMP_PIXELS`` above, so it binds only on the
slower presets' small images (the fast preset's 490 steps never reach it).

Training longer makes a tiny image's file larger, not better: the networks' weights grow in
size while the loss ignores their bits; at 16x16, 980 steps gave a higher ``MSE + lambda * bpp``
than 490 in all 8 dev-set encodes measured (2 images, 2 qualities, 2 architectures).
"""


class Proxy(NamedTuple):
    """The differentiable stand-in for rounding at one step: soft-round + Gaussian noise."""

    temperature: float
    noise_std: float


class StepSettings(NamedTuple):
    """What one training step uses: each parameter group's learning rate and how latents are
    quantized (``proxy=None``: hard rounding with straight-through gradients)."""

    latent_lr: float
    net_lr: float
    proxy: Proxy | None
    rate_scale: float = 1.0
    """The factor on lambda at this step (:attr:`NoisePhase.rate_boost`)."""
    grid_lr_ratio: float = 1.0
    """Grid ``k`` (0 = finest) learns at ``latent_lr * grid_lr_ratio**k``
    (:attr:`NoisePhase.grid_lr_ratio`)."""
    weight_grad_stride: int = 1
    """The networks' weight gradients come from one block of samples in this many
    (:attr:`NoisePhase.weight_grad_stride`); 1: all, exact."""
    held_grids: int = 0
    """The finest grids held still at this step (:attr:`NoisePhase.fine_grid_delay`)."""
    log_scale_lift: float = 0.0
    """How far above the format's floor the ARM's log-scale floor sits at this step
    (:attr:`NoisePhase.log_scale_lift`)."""
    coarse: bool = False
    """Whether this step trains the half-resolution image without the finest grid
    (:attr:`NoisePhase.coarse_share`)."""
    nets_frozen: bool = False
    """Whether the networks stay still at this step, their weight gradients not computed
    (:attr:`NoisePhase.net_freeze_from`)."""


def _linear(start: float, end: float, frac: float) -> float:
    return start + (end - start) * frac


def _cosine(peak: float, frac: float) -> float:
    """Cosine decay from ``peak`` at ``frac = 0`` to zero at ``frac = 1``."""
    return peak * 0.5 * (1 + math.cos(math.pi * frac))


@dataclass(frozen=True)
class NoisePhase:
    """Training through the quantization proxy, as C3 and Cool-chic do.

    Rate and synthesis both see ``soft_round(soft_round(y) + n)`` with Gaussian ``n``; the
    soft-round temperature anneals linearly from ``temperature_start`` to ``temperature_end``
    and the noise's std from ``noise_start`` to ``noise_end``, while both learning rates follow
    one cosine to zero at the phase's last step.

    The proxy ends colder (temperature 0.05) than its noise (0.15) because ``soft_round`` keeps
    half-integers that rounding destroys: with both ending at 0.1, a third of the latents sit
    at x.5 and the proxy's loss flatters the file by ~0.5 dB and ~15% of rate
    (benchmarks/training_notes.md).

    Learning rates are peaks: latents start at zero and must grow to many quantization steps
    for a precise image, so they learn at 0.16 (Cool-chic's effective rate, gain 16 x 1e-2),
    which beats 0.05; the networks diverge on some images above 1e-2.

    ``rate_boost`` multiplies lambda early in the phase (:meth:`rate_scale`); every preset keeps
    it at 1, since a boost of 3 left one of two seeds of a smooth dev-set image 1.3 dB short
    (benchmarks/ablation.md); probes set it with ``--set noise.rate_boost=...``.

    ``grid_lr_ratio`` scales each latent grid's learning rate by ``ratio**k`` (grid 0 the finest);
    every preset keeps 1 (benchmarks/ablation.md). ``fine_grid_delay`` holds the finest grids at
    zero for that many first steps (:meth:`held_grids`), so that the coarse grids take the smooth
    content first; 0 in every preset. ``log_scale_lift`` raises the ARM's log-scale floor by that
    much at the start, back to the format's by ``log_scale_lift_until`` of the phase
    (:meth:`lift_at`, :func:`lnic.encoder.nets.arm.log_scale_floor`); 2 in the default preset.
    ``weight_grad_stride`` estimates the networks' weight gradients from one block of samples in
    that many (:func:`lnic.encoder.native.ops.sampled_weight_gradients`), which makes a step
    cheaper. ``coarse_share`` of the phase's first steps train the image at half resolution
    from every grid but the finest (:func:`lnic.encoder.train.coarse_target`): a quarter of the
    pixels and latents per step, while the image's coarse content forms. From
    ``net_freeze_from`` of the phase on the networks stay still and their weight gradients are
    not computed, which makes those steps cheaper; every preset keeps 1 (never), since freezing
    the second half cost 3.9% of rate (benchmarks/ablation.md). ``finest_grid_ratio`` leaves
    the finest grid at exact zero through the whole fit when the image's finest detail is worth
    less than that many bits per pixel at the encode's lambda
    (:func:`lnic.encoder.finest_grid.leaves_finest_grid`; the first noise phase's value
    decides); 0 never. Up to ``finest_grid_trial_ratio`` bits per pixel the detail alone does
    not tell, and a trial does: the first ``finest_grid_trial_share`` of the phase runs both
    ways, and the fit goes on with the grid left empty where that fit's hard-rounded loss is
    lower by more than ``finest_grid_trial_margin`` (:func:`lnic.encoder.train.fit`); 0 never.
    """

    key: ClassVar[str] = "noise"
    label: ClassVar[str] = "noise-proxy"

    steps: int
    lr: float = 0.16
    net_lr: float = 1e-2
    temperature_start: float = 0.3
    temperature_end: float = 0.05
    noise_start: float = 0.25
    noise_end: float = 0.15
    rate_boost: float = 1.0
    rate_boost_until: float = 0.5
    grid_lr_ratio: float = 1.0
    weight_grad_stride: int = 1
    fine_grid_delay: int = 0
    fine_grid_delay_grids: int = 1
    log_scale_lift: float = 0.0
    log_scale_lift_until: float = 0.5
    coarse_share: float = 0.0
    net_freeze_from: float = 1.0
    finest_grid_ratio: float = 0.0
    finest_grid_trial_share: float = 0.0
    finest_grid_trial_ratio: float = 0.0
    finest_grid_trial_margin: float = 0.04

    @property
    def finest_grid_trial_steps(self) -> int:
        """How many of the phase's first steps the finest grid's trial runs each way."""
        return round(self.finest_grid_trial_share * self.steps)

    def at(self, step: int) -> StepSettings:
        """The settings of step ``step`` (0-based) of this phase."""
        frac = step / max(self.steps - 1, 1)
        temperature = _linear(self.temperature_start, self.temperature_end, frac)
        noise_std = _linear(self.noise_start, self.noise_end, frac)
        return StepSettings(
            _cosine(self.lr, frac),
            _cosine(self.net_lr, frac),
            Proxy(temperature, noise_std),
            self.rate_scale(frac),
            self.grid_lr_ratio,
            self.weight_grad_stride,
            self.held_grids(step),
            self.lift_at(self._full_resolution_frac(step)),
            step < self.coarse_steps,
            self.net_freeze_from < 1.0 and frac >= self.net_freeze_from,
        )

    @property
    def coarse_steps(self) -> int:
        """How many of the phase's first steps train at half resolution."""
        return round(self.coarse_share * self.steps)

    def _full_resolution_frac(self, step: int) -> float:
        """``step``'s place in the phase's full-resolution steps (0 at the first, 1 at the
        last; 0 through the coarse steps): the clock of the log-scale lift, whose decay then
        runs over the steps that see the finest grid, which starts from zero after the coarse
        steps and can leave zero only while the ARM's scale is held up."""
        first, last = self.coarse_steps, self.steps - 1
        return min(max((step - first) / max(last - first, 1), 0.0), 1.0)

    def lift_at(self, frac: float) -> float:
        """How far above the format's floor the ARM's log-scale floor sits at ``frac`` of the
        phase: ``log_scale_lift`` at the start, falling linearly to 0 at ``log_scale_lift_until``
        (:func:`lnic.encoder.nets.arm.log_scale_floor`)."""
        if frac >= self.log_scale_lift_until:
            return 0.0
        return self.log_scale_lift * (1 - frac / self.log_scale_lift_until)

    @property
    def rates_grids_apart(self) -> bool:
        """Whether some step gives a latent grid another learning rate than the others
        (``grid_lr_ratio``, ``fine_grid_delay``): the optimiser then keeps a group per grid."""
        return self.grid_lr_ratio != 1.0 or self.fine_grid_delay > 0

    def held_grids(self, step: int) -> int:
        """How many of the finest grids stay still at ``step``: coarse to fine, grid ``k``
        (0 the finest) of the ``fine_grid_delay_grids`` finest starts to learn at step
        ``fine_grid_delay * (fine_grid_delay_grids - k) / fine_grid_delay_grids``."""
        n = self.fine_grid_delay_grids
        return sum(1 for k in range(n) if step * n < self.fine_grid_delay * (n - k))

    def rate_scale(self, frac: float) -> float:
        """Lambda's factor at ``frac`` of the phase: ``rate_boost`` at the start, falling along
        a half cosine to 1 at ``rate_boost_until`` and 1 after it.

        A continuation on lambda, as for L1-regularised problems: the rate term is what moves
        slowly (the image appears within the first quarter of the schedule, then the rate falls
        almost linearly until the learning rate runs out), so a larger lambda early finds a
        sparser, cheaper set of latents sooner, and the second half refits the distortion at
        the target lambda.
        """
        if self.rate_boost == 1.0 or frac >= self.rate_boost_until:
            return 1.0
        ramp = 0.5 * (1 + math.cos(math.pi * frac / self.rate_boost_until))
        return 1.0 + (self.rate_boost - 1.0) * ramp


@dataclass(frozen=True)
class StraightThroughPhase:
    """Fine-tuning with hard rounding and straight-through gradients.

    The model sees exactly what the decoder will see, so the phase's loss is the file's (up to
    the weights' quantization) and :func:`lnic.encoder.train.fit` keeps the best parameters it
    meets. The proxy's last steps leave little to correct: a short phase at a small learning
    rate (networks 16 times slower than latents, as in :class:`NoisePhase`) is enough, and
    its steps are worth more in the noise phase.
    """

    key: ClassVar[str] = "ste"
    label: ClassVar[str] = "straight-through"

    steps: int
    lr: float = 1e-3
    net_lr: float = 1e-3 / 16

    def at(self, step: int) -> StepSettings:
        """The settings of step ``step`` (0-based) of this phase."""
        frac = step / max(self.steps, 1)
        return StepSettings(_cosine(self.lr, frac), _cosine(self.net_lr, frac), None)


Phase = NoisePhase | StraightThroughPhase


@dataclass(frozen=True)
class Preset:
    """How hard the encoder works: the training phases, run in order.

    Steps are full-image optimisation steps, set for an image of ``reference_pixels``; a step
    costs about in proportion to the pixels, so :meth:`scaled` gives smaller images more steps
    in the same time. ``reference_pixels=None`` keeps the steps as set.
    """

    name: str
    phases: tuple[Phase, ...]
    reference_pixels: int | None = None

    @property
    def steps(self) -> int:
        """All steps of all phases."""
        return sum(phase.steps for phase in self.phases)

    def scaled(self, pixels: int) -> Preset:
        """The preset for an image of ``pixels``: more steps when smaller, at most
        :data:`MAX_STEP_SCALE` times as many, from :data:`STEP_RAMP_PIXELS` up
        (:func:`step_scale`), and at most :func:`small_image_step_cap` steps. The result is set
        for that image: scaling it again changes nothing."""
        if self.reference_pixels is None or pixels >= self.reference_pixels:
            return self
        factor = step_scale(pixels, self.reference_pixels)
        factor = min(factor, small_image_step_cap(pixels) / max(self.steps, 1))
        phases = tuple(replace(p, steps=max(round(p.steps * factor), 1)) for p in self.phases)
        return replace(self, phases=phases, reference_pixels=None)

    def with_steps(self, steps: int) -> Preset:
        """The preset run for exactly ``steps`` steps in all, whatever the image size.

        Every phase keeps its share of the steps (largest remainders round up) and every
        straight-through phase keeps at least one step, so that the run still ends on the
        parameters that hard rounding saw.
        """
        from lnic.errors import InputError

        if isinstance(steps, bool) or not isinstance(steps, int) or steps < len(self.phases):
            raise InputError(
                f"steps must be an integer of at least {len(self.phases)}, got {steps!r}"
            )
        kept = [isinstance(p, StraightThroughPhase) for p in self.phases]
        shares = [steps * p.steps / max(self.steps, 1) for p in self.phases]
        counts = [max(int(share), int(keep)) for share, keep in zip(shares, kept)]
        by_remainder = sorted(range(len(counts)), key=lambda i: counts[i] - shares[i])
        for i in by_remainder[: max(steps - sum(counts), 0)]:
            counts[i] += 1
        while sum(counts) > steps:  # the kept minimums took steps from the largest phase
            largest = max(range(len(counts)), key=lambda i: counts[i] - int(kept[i]))
            counts[largest] -= 1
        phases = tuple(replace(p, steps=n) for p, n in zip(self.phases, counts))
        return replace(self, phases=phases, reference_pixels=None)

    def at_full_resolution(self) -> Preset:
        """The preset with no coarse steps (:attr:`NoisePhase.coarse_share` 0 in every phase):
        what a size-targeted encode runs, whose lambda steering measures the whole pyramid's
        rate from a quarter of the noise phase on and models its drift as a full-resolution
        training's (:mod:`lnic.encoder.rate_control`)."""
        phases = tuple(
            replace(p, coarse_share=0.0) if isinstance(p, NoisePhase) else p for p in self.phases
        )
        return replace(self, phases=phases)

    def describe(self) -> str:
        """One line: the steps of each phase, and a finest-grid trial's (``lnic encode --help``)."""
        steps = " + ".join(f"{p.steps} {p.label} steps" for p in self.phases)
        trials = [p.finest_grid_trial_steps for p in self.phases if isinstance(p, NoisePhase)]
        if trials and trials[0]:
            steps += f" (+{trials[0]} trial steps on some smooth images)"
        return steps

    def record(self) -> dict[str, object]:
        """The preset as plain data, for result files."""
        return {
            "name": self.name,
            "reference_pixels": self.reference_pixels,
            "phases": [{"phase": p.key, **asdict(p)} for p in self.phases],
        }


def step_scale(pixels: int, reference_pixels: int) -> float:
    """How many times a preset's steps an image of ``pixels`` gets: ``reference_pixels /
    pixels`` (the same time per image), at most :data:`MAX_STEP_SCALE` and at most
    ``pixels / STEP_RAMP_PIXELS``, but never fewer than the preset's own steps."""
    if pixels >= reference_pixels:
        return 1.0
    ramp = max(1.0, pixels / STEP_RAMP_PIXELS)
    return min(MAX_STEP_SCALE, reference_pixels / pixels, ramp)


def small_image_step_cap(pixels: int) -> float:
    """The most steps of any preset for an image of ``pixels`` (:data:`SMALL_IMAGE_STEPS`)."""
    return SMALL_IMAGE_STEPS * max(1.0, pixels / STEP_RAMP_PIXELS) ** 2


def _preset(name: str, noise: NoisePhase, ste_steps: int) -> Preset:
    return Preset(name, (noise, StraightThroughPhase(ste_steps)), KODAK_PIXELS)


PRESETS: dict[str, Preset] = {
    "fast": _preset("fast", NoisePhase(480), 10),
    "default": _preset(
        "default",
        NoisePhase(
            3900,
            log_scale_lift=2.0,
            finest_grid_ratio=0.1,
            finest_grid_trial_share=0.41,
            finest_grid_trial_ratio=0.4,
            finest_grid_trial_margin=0.03,
        ),
        10,
    ),
    "slow": _preset("slow", NoisePhase(9970), 30),
}
"""Step budgets set by time on the project's 2-core CPU for a 768x512 image
(benchmarks/encode_speed.md).

``fast`` stays within a minute. ``default`` aims at five minutes: its steps are where kodim01
at quality 4 reaches about +10% of rate against Cool-chic 5.0, and the rate-distortion curve
is nearly flat around them; its ARM's log-scale floor starts 2 above the format's and falls
to it by mid-phase (:attr:`NoisePhase.log_scale_lift`: -1.4% of rate over 14 dev-set pairs,
the smooth photos -1.3 to -5.0%; benchmarks/ablation.md), and it leaves the finest latent grid
empty where the image's finest detail is worth less than 0.1 bits per pixel at the encode's
lambda (:attr:`NoisePhase.finest_grid_ratio`: -4.2% of rate over the 22 dev-set pairs it
picks, up to -33% on a smooth photo at quality 4; benchmarks/ablation.md); from there to
0.4 bits per pixel a trial decides: the first 41% of the noise phase (1,599 steps) runs both
ways, and the empty grid goes on where its hard-rounded loss is more than 3% lower
(:attr:`NoisePhase.finest_grid_trial_share`; on 20 dev-set fits at qualities 3 and 4 it
picked every photo that gains 5% or more and none that loses; such an encode takes ~1.4x as
long). The other presets have not been measured with either. ``slow`` gives the best
rate-distortion within 900 reference steps: 10,000 steps (721 reference steps measured on an
Intel Xeon with AVX-512, 904 on an AMD EPYC with AVX2 only, whose vectors are half as wide),
where the smooth images that still gain from steps get most of what 3x the default's would
give (benchmarks/ablation.md).
"""


DEFAULT_PRESET = "default"
"""The preset of ``lnic encode`` and :func:`lnic.encode` when none is named."""


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`lnic.errors.InputError` names the choices."""
    from lnic.errors import InputError

    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name]
