"""Training phases: each a frozen dataclass that knows its own schedule (:meth:`at` gives the
learning rates and the quantization proxy of each of its steps), and the settings of one step.

Like :mod:`lnic.encoder.presets`, which names lists of them, this module imports neither torch
nor the rest of lnic, so that ``lnic encode --help`` can describe the presets cheaply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple


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
    lower by more than ``finest_grid_trial_margin`` (:func:`lnic.encoder.fitting.fit`); 0 never.
    After ``finest_grid_trial_early_share`` of the phase the trial already decides where the
    empty grid leads by more than ``finest_grid_trial_early_leave`` or by less than
    ``finest_grid_trial_early_keep`` (:func:`lnic.encoder.finest_grid.early_choice`); 0 never.
    Below ``start_race_ratio`` bits per pixel of finest detail, where no trial runs, starts
    race: models from ``start_race_seeds`` seeds each train for ``start_race_share`` of the
    phase, and the one with the lower hard-rounded loss goes on
    (:func:`lnic.encoder.race.start_race`); 0 never. They also race, at any lambda, where the
    finest detail itself (mean squared, 0..1 samples) is below ``start_race_detail``: a smooth
    photo's seeds end far apart at high rates too; 0 never. At a lambda of at most
    ``start_race_high_lambda`` they race below ``start_race_high_detail`` of finest detail: at a
    high rate the seeds of photos of middling detail end apart too, at a middle rate they do
    not; 0 never. At a lambda of at most ``start_race_all_lambda`` every photo races, whatever
    its detail: at the highest rates a textured photo's seeds end apart too; 0 never. Below
    ``start_race_small_ratio`` bits per pixel a third start, a smaller decoder
    (:func:`lnic.encoder.sizing.smaller_architecture`), joins that race, its networks' fewer
    bits counted in its favour; 0 never. It starts from the race's other seed, and with
    ``start_race_small_seeds`` 2 (or more) from the encode's seed too (a fourth start).
    ``start_race_seeds`` is how many starts of the encode's own decoder race where the smaller
    decoder does not: its seed and ``start_race_seeds - 1`` others. Where the smaller decoder
    races, the own decoder starts from two seeds and every start runs
    ``start_race_small_share`` of the phase (0: ``start_race_share``).
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
    finest_grid_trial_early_share: float = 0.0
    finest_grid_trial_early_leave: float = 0.1
    finest_grid_trial_early_keep: float = 0.0
    start_race_share: float = 0.0
    start_race_ratio: float = 0.0
    start_race_detail: float = 0.0
    start_race_high_detail: float = 0.0
    start_race_high_lambda: float = 0.0
    start_race_all_lambda: float = 0.0
    start_race_small_ratio: float = 0.0
    start_race_small_seeds: int = 1
    start_race_seeds: int = 2
    start_race_small_share: float = 0.0

    @property
    def finest_grid_trial_steps(self) -> int:
        """How many of the phase's first steps the finest grid's trial runs each way."""
        return round(self.finest_grid_trial_share * self.steps)

    @property
    def finest_grid_trial_early_steps(self) -> int:
        """After how many steps the trial may already decide (0: only at its end)."""
        return round(self.finest_grid_trial_early_share * self.steps)

    @property
    def start_race_rules(self) -> tuple[tuple[float, float], ...]:
        """The race's (lambda, detail) rules as one table: starts race where the encode's lambda
        is at most a rule's lambda and the finest detail is below its detail, for any rule
        (``start_race_detail`` at any lambda, ``start_race_high_detail`` up to
        ``start_race_high_lambda``, any detail up to ``start_race_all_lambda``; a 0 drops its
        rule, since no lambda is at most 0 and no detail below 0). The fields stay apart so that
        probes set each one (``--set noise.start_race_detail=...``)."""
        return (
            (math.inf, self.start_race_detail),
            (self.start_race_high_lambda, self.start_race_high_detail),
            (self.start_race_all_lambda, math.inf),
        )

    @property
    def start_race_steps(self) -> int:
        """How many of the phase's first steps each start of a race of the encode's own decoder
        runs."""
        return round(self.start_race_share * self.steps)

    @property
    def start_race_small_steps(self) -> int:
        """How many of the phase's first steps each start of a race with the smaller decoder
        runs."""
        share = self.start_race_small_share or self.start_race_share
        return round(share * self.steps)

    @property
    def start_race_extra_steps(self) -> int:
        """The steps that a race of the encode's own decoder adds to a fit: its losing starts'."""
        return self.start_race_steps * len(self.start_race_rival_ks)

    @property
    def start_race_small_extra_steps(self) -> int:
        """The steps that a race with the smaller decoder adds to a fit: its losing starts'
        (the own decoder's second seed and the smaller decoder's seeds)."""
        return (1 + len(self.start_race_small_seed_ks)) * self.start_race_small_steps

    @property
    def start_race_small_seed_ks(self) -> tuple[int, ...]:
        """The race's seeds (0 the encode's own, 1 the other) that the smaller decoder starts
        from where it races: the other seed, and the encode's too where
        ``start_race_small_seeds`` is 2 or more."""
        return (1, 0) if self.start_race_small_seeds >= 2 else (1,)

    @property
    def start_race_rival_ks(self) -> tuple[int, ...]:
        """The race's seeds (0 the encode's own) that the encode's own decoder starts from
        besides its own: 1 up to ``start_race_seeds - 1``."""
        return tuple(range(1, max(self.start_race_seeds, 2)))

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
    the weights' quantization) and :func:`lnic.encoder.fitting.fit` keeps the best parameters it
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
