"""Whether an encode leaves the finest latent grid empty.

The finest grid holds one latent per pixel: only it can carry the detail that the image's
half-resolution version, brought back up, lacks. On some smooth photos that detail is worth
less than its bits, but the fit still fills the grid (its latents take every pixel's
distortion gradient from the first step) and ends in a worse place than a fit that never had
it: dev17 at quality 4 needs 28-33% fewer bits at equal distortion with the grid left at zero
(two seeds) and dev24 7-13%, while other smooth photos change by -2..+3% and textured ones
need the grid (dev03 +15% at quality 4; benchmarks/ablation.md). The default preset leaves it
below 0.1 bits per pixel of detail (22 dev-set pairs at qualities 1, 2 and 4: -4.2% of rate
on average; -1.6% at quality 1 and 0.0% at quality 2, where it picks 18 and 14 of the 36).

:func:`finest_detail` measures that detail before training; :func:`leaves_finest_grid` compares
it with lambda. An empty grid costs almost nothing to code (the ARM, trained on its exact zeros,
is sure of them), so the decision is the encoder's alone: the format and the decoder are the
same either way.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "FinestGridChoice",
    "choose",
    "early_choice",
    "finest_detail",
    "leaves_finest_grid",
    "trial_leaves",
]

FinestGridChoice = Literal["keep", "leave", "trial"]
"""What a fit does with the finest grid: train it, leave it empty, or decide by a trial."""


def finest_detail(target: torch.Tensor) -> float:
    """Mean squared difference (0..1 samples) between ``target`` [C, H, W] and its 2x2-block
    means brought back to full size by bilinear interpolation: the detail that only the finest
    grid can carry, in the loss's own units."""
    half = F.avg_pool2d(target[None], 2, ceil_mode=True, count_include_pad=False)
    up = F.interpolate(half, scale_factor=2.0, mode="bilinear", align_corners=False)
    h, w = target.shape[1:]
    return float(torch.mean((target[None] - up[..., :h, :w]) ** 2))


def leaves_finest_grid(target: torch.Tensor, lmbda: float, ratio: float) -> bool:
    """Whether the fit at ``lmbda`` should keep the finest grid at zero: its detail
    (:func:`finest_detail`) is below ``ratio * lmbda``, i.e. worth less than ``ratio`` bits
    per pixel at that lambda. ``ratio`` 0 never leaves it."""
    return choose(target, lmbda, ratio) == "leave"


def choose(
    target: torch.Tensor, lmbda: float, ratio: float, trial_ratio: float = 0.0
) -> FinestGridChoice:
    """``"leave"`` below ``ratio`` bits per pixel of finest detail at ``lmbda``
    (:func:`leaves_finest_grid`), ``"trial"`` from there to ``trial_ratio``, where the detail
    alone does not tell (the first steps of both fits do: :func:`trial_leaves`), and ``"keep"``
    above, where the grid always pays."""
    if target.shape[1] < 2 or target.shape[2] < 2:
        return "keep"
    detail = finest_detail(target)
    if ratio > 0 and detail < ratio * lmbda:
        return "leave"
    if trial_ratio > 0 and detail < trial_ratio * lmbda:
        return "trial"
    return "keep"


def trial_leaves(kept: float, left: float, margin: float) -> bool:
    """Whether a trial's fit with the grid left empty, at hard-rounded loss ``left``, beats the
    fit that trains it (``kept``) by more than ``margin`` of ``kept``: the empty grid's early
    lead moves by a few points of loss over the rest of the schedule (it grows at quality 3,
    shrinks by 2-5 points at quality 4 and by 2-6 at quality 5:
    benchmarks/dev/finest_grid_trial.jsonl), so a smaller lead decides nothing; at 3% the trial
    picked every dev-set fit at qualities 3 and 4 that gains 5% or more and none that lost, and
    at quality 5 two of its six picks end level (+0.3%, +1.3%) while the others gain 0.3-9.2%."""
    return left < (1.0 - margin) * kept


def early_choice(
    kept: float, left: float, leave_lead: float, keep_lead: float
) -> FinestGridChoice | None:
    """What a trial can decide before its end, from the hard-rounded losses ``kept`` and
    ``left`` of its two fits: ``"leave"`` where the empty grid already leads by more than
    ``leave_lead`` of ``kept``, ``"keep"`` where its lead is below ``keep_lead``, else nothing.
    Halfway through the default's trial the lead still moves by a few points, but of the 48
    dev-set trial fits at qualities 3-6, the 8 that led by more than 10% at step 800 still led
    by more than the 3% margin at step 1,600, and none of the 15 behind at step 800 reached it
    (benchmarks/dev/finest_grid_trial.jsonl)."""
    lead = 1.0 - left / kept
    if lead > leave_lead:
        return "leave"
    if lead < keep_lead:
        return "keep"
    return None
