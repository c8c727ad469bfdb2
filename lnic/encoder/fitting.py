"""Fitting one image: the preset's phases run by :class:`lnic.encoder.train.Training`, with
the finest grid's trial or a race of starts where the preset asks for one
(:mod:`lnic.encoder.race`)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from functools import partial

import torch

from lnic.encoder.allocator import keep_large_allocations
from lnic.encoder.blas_threads import serial_blas
from lnic.encoder.finest_grid import FinestGridChoice, choose
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.phases import NoisePhase
from lnic.encoder.presets import Preset
from lnic.encoder.race import (
    Entrant,
    finest_grid_trial,
    races_smaller_decoder,
    races_starts,
    run_race,
)
from lnic.encoder.rate_control import RateSteering, estimated_weight_bytes
from lnic.encoder.sizing import smaller_architecture
from lnic.encoder.train import Progress, StepCounter, Training
from lnic.model.architecture import Architecture

log = logging.getLogger(__name__)

Seeded = Callable[[Architecture, int], OverfittedCodec]
"""``seeded(arch, k)``: a fresh model of ``arch`` from a race's seed ``k`` (0 the encode's own,
1 the other), the process's generator seeded as a single start from that seed would be."""


def fit(
    model: OverfittedCodec,
    target: torch.Tensor,
    lmbda: float,
    preset: Preset,
    progress: Progress | None = None,
    steering: RateSteering | None = None,
) -> dict[str, float]:
    """Train ``model`` in place on ``target`` [C, H, W] in 0..1 through the preset's phases;
    returns the last step's loss terms (``lmbda``: the lambda that step used, after the
    phase's :meth:`~lnic.encoder.phases.NoisePhase.rate_scale`).

    Optimiser moments carry over from one phase to the next. Where the last phase rounds hard,
    the model ends with the best parameters that rounding saw. With ``steering``, lambda starts
    at ``steering.lmbda`` and follows it through the noise phases (``lmbda`` and the phases'
    rate boost are then unused: the steering judges the rate at its own lambda);
    training stops early where the steering asks to start again (``steering.restart``).
    """
    return fit_best(model, target, lmbda, preset, progress, steering)[1]


def fit_best(
    model: OverfittedCodec,
    target: torch.Tensor,
    lmbda: float,
    preset: Preset,
    progress: Progress | None = None,
    steering: RateSteering | None = None,
    seeded: Seeded | None = None,
) -> tuple[OverfittedCodec, dict[str, float]]:
    """:func:`fit`, with a race of starts where the preset asks for one
    (:func:`lnic.encoder.race.races_starts`): ``seeded(arch, k)`` makes the model of a decoder
    from the race's seed ``k`` (seeding the process's generator; 0 is the seed ``model`` was
    made from, 1 another): ``model``'s decoder from seed 1 and, where the preset asks for it
    (:func:`lnic.encoder.race.races_smaller_decoder`), a smaller one from seed 1 and, with
    :attr:`~lnic.encoder.phases.NoisePhase.start_race_small_seeds` 2, from seed 0. Returns the
    trained model (``model`` itself, or the race's winner) and its last step's loss terms."""
    keep_large_allocations()
    with serial_blas():
        return _fit(model, target, lmbda, preset, progress, steering, seeded)


def _fit(
    model: OverfittedCodec,
    target: torch.Tensor,
    lmbda: float,
    preset: Preset,
    progress: Progress | None,
    steering: RateSteering | None,
    seeded: Seeded | None,
) -> tuple[OverfittedCodec, dict[str, float]]:
    """:func:`fit_best`'s loop, with the finest grid's trial or a race of starts where the
    preset asks for one."""
    # contiguous once here: the loss kernel reads it flat every step, and an image made by
    # transposing HWC pixels would otherwise be copied (4.7 MB for 768x512) at every step
    target = target.contiguous()
    preset = preset.scaled(target.shape[1] * target.shape[2])
    lam = float(lmbda if steering is None else steering.lmbda)
    choice = finest_grid_choice(model, target, lam, preset, steering is not None)
    phase = _first_noise(preset)
    trial = phase.finest_grid_trial_steps if choice == "trial" else 0
    racing = seeded is not None and not trial and steering is None
    starts, per_start = _race_starts(model, target, lam, phase) if racing else ([], 0)
    race = per_start * len(starts)
    counter = StepCounter(preset.steps + (trial or race), progress)
    if choice == "leave":
        model.latents.leave_empty(0)
        log.info("the finest latent grid stays empty (its detail is worth little at this lambda)")
    if trial:
        return model, _trial(model, target, lam, preset, phase, counter)
    if starts:
        assert seeded is not None
        rivals = [partial(seeded, *s) for s in starts]
        return _race(model, rivals, per_start, target, lam, preset, counter)
    run = Training(model, target, lam, preset, steering, counter)
    run.advance(preset.steps)
    return model, run.finish()


def _trial(
    model: OverfittedCodec,
    target: torch.Tensor,
    lmbda: float,
    preset: Preset,
    phase: NoisePhase,
    counter: StepCounter,
) -> dict[str, float]:
    """The finest grid's trial (:func:`lnic.encoder.race.finest_grid_trial`): ``model`` trains
    its finest grid, a copy of its start leaves it empty from the same random state, and the
    winner goes on alone as its own encode would; ``model`` ends with its parameters."""
    start = copy.deepcopy(model)
    start.latents.leave_empty(0)
    kept = Entrant(Training(model, target, lmbda, preset, None, counter))
    left = Entrant(Training(start, target, lmbda, preset, None, counter), kept.rng)
    winner = finest_grid_trial(kept, left, phase)
    counter.total = preset.steps + winner.run.done  # an early decision skips the trial's rest
    stats = winner.go_on(preset.steps)
    if winner is left:
        model.load_state_dict(start.state_dict())
        model.latents.leave_empty(0)
    return stats


def _race_starts(
    model: OverfittedCodec, target: torch.Tensor, lmbda: float, phase: NoisePhase
) -> tuple[list[tuple[Architecture, int]], int]:
    """The decoders and seeds (:data:`Seeded`) of a race's other starts, and the steps each
    start runs: none where the phase runs no race here; else ``model``'s from the other seeds
    (:attr:`~lnic.encoder.phases.NoisePhase.start_race_rival_ks`) for
    :attr:`~lnic.encoder.phases.NoisePhase.start_race_steps`, or, where the phase asks for a
    smaller decoder, ``model``'s from the race's seed 1 and a smaller one from seed 1 and, with
    ``start_race_small_seeds`` 2, from ``model``'s, for
    :attr:`~lnic.encoder.phases.NoisePhase.start_race_small_steps`."""
    if not races_starts(target, lmbda, phase):
        return [], 0
    small = smaller_architecture(model.arch)
    if small is None or not races_smaller_decoder(target, lmbda, phase):
        return [(model.arch, k) for k in phase.start_race_rival_ks], phase.start_race_steps
    starts = [(model.arch, 1), *((small, k) for k in phase.start_race_small_seed_ks)]
    return starts, phase.start_race_small_steps


def _race(
    model: OverfittedCodec,
    rivals: list[Callable[[], OverfittedCodec]],
    steps: int,
    target: torch.Tensor,
    lmbda: float,
    preset: Preset,
    counter: StepCounter,
) -> tuple[OverfittedCodec, dict[str, float]]:
    """The race of starts (:func:`lnic.encoder.race.run_race`): ``model`` against the models
    ``rivals`` make, each run ``steps`` steps with the random state a fit of it alone would
    have and with the finest grid ``model`` leaves empty left empty too; a smaller decoder's
    networks count in its favour by their estimated bits
    (:func:`lnic.encoder.rate_control.estimated_weight_bytes`)."""

    def start(make: Callable[[], OverfittedCodec]) -> OverfittedCodec:
        other = make()
        for k in model.latents.empty:
            other.latents.leave_empty(k)
        return other

    pixels = target.shape[1] * target.shape[2]
    own = estimated_weight_bytes(model.arch)

    def handicap(m: OverfittedCodec) -> float:
        extra = estimated_weight_bytes(m.arch) - own
        return lmbda * 8.0 * extra / pixels if extra else 0.0

    winner, stats = run_race(
        [lambda: model, *(partial(start, make) for make in rivals)],
        lambda m: Training(m, target, lmbda, preset, None, counter),
        steps,
        preset.steps,
        handicap,
    )
    if winner.arch != model.arch:
        log.info(
            "the smaller decoder goes on: ARM %d wide, synthesis %d wide",
            winner.arch.arm_hidden,
            winner.arch.synth_hidden,
        )
    return winner, stats


def _first_noise(preset: Preset) -> NoisePhase:
    """The preset's first noise phase, whose settings decide the finest grid (a preset without
    one gets the defaults: no rule, no trial)."""
    noise = [p for p in preset.phases if isinstance(p, NoisePhase)]
    return noise[0] if noise else NoisePhase(0)


def finest_grid_choice(
    model: OverfittedCodec,
    target: torch.Tensor,
    lmbda: float,
    preset: Preset,
    steered: bool = False,
) -> FinestGridChoice:
    """What the fit does with the finest grid (:func:`lnic.encoder.finest_grid.choose`, at the
    first noise phase's settings); never a trial in a ``steered`` (size-targeted) encode, whose
    lambda moves."""
    phase = _first_noise(preset)
    if len(model.latents.grids) < 2:
        return "keep"
    tries = not steered and phase.finest_grid_trial_steps > 0
    trial_ratio = phase.finest_grid_trial_ratio if tries else 0.0
    return choose(target, lmbda, phase.finest_grid_ratio, trial_ratio)
