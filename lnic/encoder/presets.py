"""Encoder presets: named lists of training phases, and the quality -> lambda table.

A preset is a name plus the phases :func:`lnic.encoder.fitting.fit` runs in order, one loop over
all of them (:mod:`lnic.encoder.phases`). This module imports neither torch nor the rest of
lnic but its phases, so that ``lnic encode --help`` can list the presets cheaply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from lnic.encoder.phases import NoisePhase, Phase, StraightThroughPhase

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
        return self._noise_phases_with(coarse_share=0.0)

    def with_decoder_fixed(self) -> Preset:
        """The preset with no smaller decoder in its races of starts
        (:attr:`NoisePhase.start_race_small_ratio` 0): what an encode runs whose caller names
        the decoder."""
        return self._noise_phases_with(start_race_small_ratio=0.0)

    def _noise_phases_with(self, **changes: float) -> Preset:
        """The preset with ``changes`` made to every noise phase."""
        phases = tuple(
            replace(p, **changes) if isinstance(p, NoisePhase) else p for p in self.phases
        )
        return replace(self, phases=phases)

    def describe(self) -> str:
        """One line: the steps of each phase, and those of a finest-grid trial or a race of
        starts, which run on some images (``lnic encode --help``)."""
        steps = " + ".join(f"{p.steps} {p.label} steps" for p in self.phases)
        noise = [p for p in self.phases if isinstance(p, NoisePhase)]
        trial = noise[0].finest_grid_trial_steps if noise else 0
        early = noise[0].finest_grid_trial_early_steps if noise else 0
        race = noise[0].start_race_extra_steps if noise else 0
        small = 0
        if noise and noise[0].start_race_small_ratio > 0:
            small = noise[0].start_race_small_extra_steps
        extra = sorted({n for n in (trial, early if 0 < early < trial else 0, race, small) if n})
        if extra:
            span = f"{extra[0]}-{extra[-1]}" if len(extra) > 1 else f"{extra[0]}"
            kinds = " or ".join(k for k, n in (("trial", trial), ("race", race)) if n)
            steps += f" (+{span} {kinds} steps where fine detail is scarce)"
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
            finest_grid_trial_early_share=0.205,
            start_race_share=0.1025,
            start_race_seeds=3,
            start_race_small_share=0.205,
            start_race_ratio=1.0,
            start_race_detail=0.0011,
            start_race_high_detail=0.0022,
            start_race_high_lambda=QUALITY_LAMBDAS[7],
            start_race_all_lambda=QUALITY_LAMBDAS[8],
            start_race_small_ratio=0.1,
            start_race_small_seeds=2,
        ),
        10,
    ),
    "slow": _preset("slow", NoisePhase(9970), 30),
}
"""Step budgets set by time on the project's 2-core CPU for a 768x512 image
(benchmarks/encode_speed.md).

``fast`` stays within a minute. ``default`` aims at five minutes: its steps are where kodim01 at
quality 4 reaches about +10% of rate against Cool-chic 5.0, and the rate-distortion curve is
nearly flat around them; its ARM's log-scale floor starts 2 above the format's and falls to it
by mid-phase (:attr:`NoisePhase.log_scale_lift`: -1.4% of rate over 14 dev-set pairs, the smooth
photos -1.3 to -5.0%; benchmarks/ablation.md), and it leaves the finest latent grid empty where
the image's finest detail is worth less than 0.1 bits per pixel at the encode's lambda
(:attr:`NoisePhase.finest_grid_ratio`: -4.2% of rate over the 22 dev-set pairs it picks, up to
-33% on a smooth photo at quality 4; benchmarks/ablation.md); from there to 0.4 bits per pixel a
trial decides: the first 41% of the noise phase (1,599 steps) runs both ways, and the empty grid
goes on where its hard-rounded loss is more than 3% lower
(:attr:`NoisePhase.finest_grid_trial_share`; on 20 dev-set fits at qualities 3 and 4 it picked
every photo that gains 5% or more and none that loses; such an encode takes 1.2-1.4x as long).
The trial decides at step 800 already where the empty grid leads by more than 10% or trails
(:attr:`NoisePhase.finest_grid_trial_early_share`): that settles 23 of the 48 dev-set trial fits
and 6 of the 24 of the Kodak record's trial rows, each as the whole trial does, and the losing
fit's other 800 steps are saved. Up to 1 bit per pixel the trial's picks at quality 5 gained
3.6% on six dev-set photos (one seed) but nothing on the 17 Kodak encodes it reached, so the
range stays at 0.4 (benchmarks/ablation.md). Below 1 bit per pixel of finest detail, where no
trial runs, two starts race (:attr:`NoisePhase.start_race_share`): the encode's seed and another
train side by side for 800 steps and the lower hard-rounded loss goes on, since one fit of such
a photo can end 5-25% of rate from another seed's while textured photos' seeds end ~1% apart:
-2.1% of rate over 20 dev-set pairs at qualities 1, 3, 4 and 5 (one start that fell 21% behind
caught), for 1.2x the encode's time on those images. A smooth photo's seeds end far apart at
high rates too, so the starts also race wherever the finest detail is below 0.0011 (mean
squared, 0..1 samples; :attr:`NoisePhase.start_race_detail`; the smoother half of Kodak, none
of its textured images): -2.6% of rate over 8 dev-set photos of Kodak's smoothness at quality
8 (the other seed won 7, up to -10%; one loss, +3.9%), for 1.2x the time of those encodes.
At qualities 7 and 8 they race up to 0.0022 of detail (:attr:`NoisePhase.start_race_high_detail`,
:attr:`NoisePhase.start_race_high_lambda`): on four dev-set photos between 0.0017 and 0.0022 the
race gained 2.0% at quality 8 and 1.7% at quality 7, 0.9% at quality 6 (left out: under 1% for
1.2x the time of those encodes) and nothing at quality 5, where their seeds agree. At quality 8
every photo races (:attr:`NoisePhase.start_race_all_lambda`): on six textured dev-set photos
(detail 0.0024-0.0057) the other seed won all six at seed 0, by 1.8-9.3% (-6.4%), and two of
them at seed 1 lost 1.6% (one race won by a start that ended behind): -4.4% over the 8 pairs.
Seed 0, the encode's default, falls 5-13% behind the other draws at quality 8 on both photos
measured with all four (benchmarks/training_notes.md). The race runs three starts of 400
steps rather than two of 800 (:attr:`NoisePhase.start_race_seeds`; the same steps in all): on
12 dev-set pairs at qualities 5 and 8 the third start won 5 races, each a gain of 1.6-3.2%, and
the other 7 went on with the same start as before: -1.1% of rate, no loss
(benchmarks/ablation.md).
Where the finest grid stays empty, a smaller decoder
(:data:`lnic.encoder.sizing.SMALLER_DECODER`) runs in that race too
(:attr:`NoisePhase.start_race_small_ratio`), its networks' ~470 fewer estimated bytes counted in
its favour, from both seeds (:attr:`NoisePhase.start_race_small_seeds`: four starts): -4.8% of
rate over 20 dev-set pairs at qualities 1-3 against the default decoder's two starts (the
smaller decoder from the other seed alone: -2.2%), and -1.7% against that over 12 more pairs
(three races won by the fourth start, -4.9 to -9.6% each, no loss), for 1,600 more steps at
~0.75 the cost of a default step (that race keeps two starts of the default decoder and 800
steps: :attr:`NoisePhase.start_race_small_share`). The other presets have not been measured
with any of these.
``slow`` gives the best rate-distortion within 900 reference steps: 10,000 steps (721 reference
steps measured on an Intel Xeon with AVX-512, 904 on an AMD EPYC with AVX2 only, whose vectors
are half as wide), where the smooth images that still gain from steps get most of what 3x the
default's would give (benchmarks/ablation.md).
"""


DEFAULT_PRESET = "default"
"""The preset of ``lnic encode`` and :func:`lnic.encode` when none is named."""


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`lnic.errors.InputError` names the choices."""
    from lnic.errors import InputError

    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r} (choose from {', '.join(PRESETS)})")
    return PRESETS[name]
