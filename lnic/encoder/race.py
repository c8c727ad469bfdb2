"""Trainings that race: fits advanced in turn, each with its own random state, so that the one
that goes on is byte for byte the fit it would have been alone.

The finest-grid trial (:func:`lnic.encoder.fitting.fit`) is such a race: the fit that trains the
finest grid against the one that leaves it empty, compared by their hard-rounded losses at one
or two checkpoints (:func:`lnic.encoder.finest_grid.early_choice`,
:func:`lnic.encoder.finest_grid.trial_leaves`). So is the race of starts (:func:`start_race`):
on photos whose finest detail is scarce at the encode's lambda, one encode of the same image
and settings ends 5-25% of rate apart from another seed's, where textured ones end ~1% apart
(benchmarks/ablation.md), and the hard-rounded loss at step 400 or 800 already tells the better
one. On the smoothest photos a smaller decoder runs in that race too
(:func:`races_smaller_decoder`): there the default decoder's networks are up to a third of the
file, some photos need less, and which ones only their first steps tell.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from lnic.encoder.finest_grid import early_choice, finest_detail, trial_leaves
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.phases import NoisePhase

log = logging.getLogger(__name__)


class Run(Protocol):
    """A training that runs in stretches (:class:`lnic.encoder.train.Training`)."""

    done: int
    """The steps it has run."""

    def advance(self, until: int) -> None: ...

    def rounded_loss(self) -> float: ...

    def finish(self) -> dict[str, float]: ...


class Entrant:
    """A training and the random state it goes on from: advancing it draws the noise it would
    draw alone, whatever ran in between."""

    def __init__(self, run: Run, rng: torch.Tensor | None = None) -> None:
        self.run = run
        self.rng = torch.get_rng_state() if rng is None else rng.clone()

    def advance(self, until: int) -> None:
        """Run the training's steps up to ``until`` from its own random state."""
        torch.set_rng_state(self.rng)
        self.run.advance(until)
        self.rng = torch.get_rng_state()

    def go_on(self, until: int) -> dict[str, float]:
        """Run the training on alone to ``until`` from its own random state, and finish it
        (the winner of a race): the last step's loss terms."""
        torch.set_rng_state(self.rng)
        self.run.advance(until)
        return self.run.finish()


def finest_grid_trial(kept: Entrant, left: Entrant, phase: NoisePhase) -> Entrant:
    """The winner of the finest grid's trial between ``kept`` (the grid trained) and ``left``
    (the grid empty), each run the phase's :attr:`~NoisePhase.finest_grid_trial_steps`, or only
    its :attr:`~NoisePhase.finest_grid_trial_early_steps` where the empty grid's lead in
    hard-rounded loss is then already decisive (:func:`lnic.encoder.finest_grid.early_choice`).
    At the trial's end the empty grid wins where its loss is lower by more than the phase's
    margin (:func:`lnic.encoder.finest_grid.trial_leaves`)."""
    steps, early = phase.finest_grid_trial_steps, phase.finest_grid_trial_early_steps
    if 0 < early < steps:
        kept.advance(early)
        left.advance(early)
        losses = (kept.run.rounded_loss(), left.run.rounded_loss())
        choice = early_choice(
            *losses, phase.finest_grid_trial_early_leave, phase.finest_grid_trial_early_keep
        )
        if choice is not None:
            return _winner(kept, left, choice == "leave", early, losses)
    kept.advance(steps)
    left.advance(steps)
    losses = (kept.run.rounded_loss(), left.run.rounded_loss())
    leaves = trial_leaves(*losses, phase.finest_grid_trial_margin)
    return _winner(kept, left, leaves, steps, losses)


def _winner(
    kept: Entrant, left: Entrant, leaves: bool, step: int, losses: tuple[float, float]
) -> Entrant:
    """``left`` or ``kept``, as ``leaves`` says, with the decision logged (``-v``)."""
    log.info(
        "finest-grid trial at step %d: %s (rounded loss %.4g kept, %.4g left)",
        step,
        "left empty" if leaves else "kept",
        *losses,
    )
    return left if leaves else kept


def races_starts(target: torch.Tensor, lmbda: float, phase: NoisePhase) -> bool:
    """Whether the phase's starts race on ``target`` at ``lmbda``, where the seed decides most:
    its finest detail (:func:`lnic.encoder.finest_grid.finest_detail`) is worth less than
    :attr:`~NoisePhase.start_race_ratio` bits per pixel, or a rule of
    :attr:`~NoisePhase.start_race_rules` holds (a smooth photo at any lambda, a photo of
    middling detail at a high rate, any photo at the highest rates)."""
    if phase.start_race_steps <= 0:
        return False
    detail = finest_detail(target)
    if phase.start_race_ratio > 0 and detail < phase.start_race_ratio * lmbda:
        return True
    return any(lmbda <= top and detail < most for top, most in phase.start_race_rules)


def races_smaller_decoder(target: torch.Tensor, lmbda: float, phase: NoisePhase) -> bool:
    """Whether a race of starts on ``target`` at ``lmbda`` also runs a smaller decoder
    (:func:`lnic.encoder.sizing.smaller_architecture`): the finest detail is worth less than
    :attr:`~NoisePhase.start_race_small_ratio` bits per pixel, where the networks' bits are the
    largest share of the file. It races only where the starts race (:func:`races_starts`), so
    the lower of the two ratios bounds the detail."""
    ratio = phase.start_race_small_ratio
    if ratio <= 0 or phase.start_race_steps <= 0:
        return False
    return finest_detail(target) < min(ratio, phase.start_race_ratio) * lmbda


def start_race(entrants: Sequence[Entrant], steps: int, handicaps: Sequence[float]) -> int:
    """The index of the start that goes on: each of ``entrants`` (the encode's start first,
    then other seeds' or a smaller decoder's) runs ``steps`` steps, and the lowest hard-rounded
    loss plus its ``handicap`` wins (the earlier start on a tie). A handicap is what a start's
    networks cost beyond the first start's, in the loss's units; 0 for the same decoder."""
    losses = []
    for entrant, handicap in zip(entrants, handicaps, strict=True):
        entrant.advance(steps)
        losses.append(entrant.run.rounded_loss() + handicap)
    winner = min(range(len(losses)), key=losses.__getitem__)
    log.info(
        "race of starts at step %d: start %d of %d goes on (rounded loss with the networks' "
        "extra bits: %s)",
        steps,
        winner + 1,
        len(losses),
        ", ".join(f"{loss:.4g}" for loss in losses),
    )
    return winner


def run_race(
    starts: Sequence[Callable[[], OverfittedCodec]],
    training: Callable[[OverfittedCodec], Run],
    steps: int,
    until: int,
    handicap: Callable[[OverfittedCodec], float],
) -> tuple[OverfittedCodec, dict[str, float]]:
    """The race of starts (:func:`start_race`) over the models that ``starts`` make, each
    trained by ``training`` for ``steps`` steps from the random state right after its making
    (a start that seeds the generator trains as a single start from that seed does); the
    winner goes on alone to ``until`` and finishes. Returns it and its last step's loss
    terms."""
    models, entrants = [], []
    for start in starts:
        models.append(start())
        entrants.append(Entrant(training(models[-1])))
    winner = start_race(entrants, steps, [handicap(m) for m in models])
    model, entrant = models[winner], entrants[winner]
    # the losers' latents, gradients and optimiser moments go before the winner's long run
    # (hundreds of megabytes each on a large photo)
    del models, entrants
    return model, entrant.go_on(until)
