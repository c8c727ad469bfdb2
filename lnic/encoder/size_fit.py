"""The last correction of a steered encode that came out above its target.

Lambda steering (:mod:`lnic.encoder.rate_control`) lands within a few percent of the target.
A file too far above it is brought down by rounding the latents that sit within ``d`` of a rounding
boundary (``|frac(y) - 1/2| < d``) to the neighbour nearer the ARM's predicted mean instead of
the nearest integer. Such a latent costs fewer bits there, and the trained decoder sees a
change of one step in few latents.

It is not free: the synthesis was trained on the nearest integers, so each moved latent costs
distortion. On a dev-set image at 0.32 bpp (fast preset), ``d = 0.02`` saved 2.3% of the bits
for 0.09 dB, 1.3 times the distortion that lambda trades for those bits, and ``d = 0.05``
saved 3.5% at 2.1 times; a zero-centred dead zone (rounding towards 0, not towards the mean)
saved no bits at all. Hence only small corrections (:data:`MAX_DEAD_ZONE`), and none upwards:
there the cheapest bits would cost more than they give.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from lnic.format import LATENT_CLAMP, MU_FRAC_BITS
from lnic.model.arm import arm_integer, gather_context
from lnic.model.quantized import QuantizedLinear

log = logging.getLogger(__name__)

MAX_DEAD_ZONE = 0.05
"""The widest band around the rounding boundaries whose latents may move (see above)."""

SEARCH_STEPS = 10
"""Bisection steps on the dead zone (to within ``MAX_DEAD_ZONE / 2**10``)."""


class SizeFit(NamedTuple):
    """The integer latents chosen, the dead zone that chose them and their code length."""

    grids: list[np.ndarray]
    dead_zone: float
    bits: float


class MeanRounding:
    """Rounds float latents, moving those near a boundary towards the ARM's mean.

    The means are those of the nearest-integer latents' contexts: moving a few latents by one
    step changes the means of their neighbours a little, which the code length sees and this
    choice ignores.
    """

    def __init__(self, latents: list[np.ndarray], arm: list[QuantizedLinear]):
        self.shapes = [y.shape for y in latents]
        self.flat = np.concatenate([y.ravel() for y in latents])
        self.nearest = np.clip(np.round(self.flat), -LATENT_CLAMP, LATENT_CLAMP)
        mu_q, _ = arm_integer(arm, gather_context(self.split(self.nearest)))
        mean = mu_q / float(1 << MU_FRAC_BITS)
        other = np.where(self.flat > self.nearest, self.nearest + 1, self.nearest - 1)
        self.toward_mean = np.abs(other - mean) < np.abs(self.nearest - mean)
        self.other = np.clip(other, -LATENT_CLAMP, LATENT_CLAMP)
        self.boundary_distance = 0.5 - np.abs(self.flat - self.nearest)

    def split(self, flat: np.ndarray) -> list[np.ndarray]:
        """Flat latents (finest grid first, raster order) as grids."""
        out, off = [], 0
        for shape in self.shapes:
            n = int(np.prod(shape))
            out.append(flat[off : off + n].reshape(shape))
            off += n
        return out

    def grids(self, dead_zone: float) -> list[np.ndarray]:
        """The integer latents with a dead zone of ``dead_zone`` (0: the nearest integers)."""
        moved = self.toward_mean & (self.boundary_distance < dead_zone)
        return self.split(np.where(moved, self.other, self.nearest))


def fit_size(
    rounding: MeanRounding, budget_bits: float, code_length: Callable[[list[np.ndarray]], float]
) -> SizeFit:
    """The narrowest dead zone, up to :data:`MAX_DEAD_ZONE`, whose latents fit ``budget_bits``
    (``code_length(grids)`` gives their bits); the widest one when none fits."""
    lo, hi = 0.0, MAX_DEAD_ZONE
    widest = rounding.grids(hi)
    best = SizeFit(widest, hi, code_length(widest))
    if best.bits > budget_bits:
        log.info("dead zone %.3f: %.0f bits of latents over %.0f", hi, best.bits, budget_bits)
        return best
    for _ in range(SEARCH_STEPS):
        mid = 0.5 * (lo + hi)
        grids = rounding.grids(mid)
        bits = code_length(grids)
        if bits <= budget_bits:
            hi, best = mid, SizeFit(grids, mid, bits)
        else:
            lo = mid
    log.info(
        "dead zone %.4f: %.0f bits of latents for %.0f", best.dead_zone, best.bits, budget_bits
    )
    return best
