"""The decoder's steps, prepared once per pass: which wavefronts each step decodes, and where.

A step decodes one wavefront of every grid in progress (coarsest first, :mod:`.schedule`). No
latent depends on another of its own step (its context lies in earlier wavefronts of its grid,
its co-located coarser latent in an earlier step), so the loops evaluate the ARM once per step
on all of its latents, laid side by side: each grid's wavefront is one :class:`Segment`.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import NamedTuple

import numpy as np

from lnic.bitstream.latent_coding.buffers import Grid
from lnic.bitstream.latent_coding.coarser import coarser_copies
from lnic.bitstream.latent_coding.schedule import grid_starts, num_steps


class Segment(NamedTuple):
    """One grid's wavefront within a step."""

    grid: Grid
    t: int
    """The wavefront."""
    anchor: int
    """Index of its windows in ``grid.windows``."""
    cell: int
    """Buffer cell of its first latent."""
    length: int
    """Its latents."""
    offset: int
    """Its first latent's column among the step's latents."""


class Step(NamedTuple):
    """One step of the schedule that decodes at least one latent."""

    copies: list[Callable[[], None]] | None
    """Copies of coarser latents (:mod:`.coarser`) to run before the step."""
    n: int
    """Latents decoded in the step."""
    segments: list[Segment]
    single: bool
    """One segment: the fast path of the numpy loop."""


class DecodeSteps(NamedTuple):
    """Everything a decoding loop runs, in order."""

    steps: list[Step]
    last_copies: list[Callable[[], None]]
    """Copies left after the last step (no child left to decode them: harmless)."""
    max_n: int
    """Latents of the largest step (sizes the loops' buffers)."""
    grids: list[Grid]


def _segments(
    grids: list[Grid], starts: list[int], n_steps: int
) -> tuple[list[list[Segment]], np.ndarray]:
    """Per step, its segments (coarsest grid first), and the step's latents."""
    segments: list[list[Segment]] = [[] for _ in range(n_steps)]
    lens = np.zeros(n_steps, dtype=np.int64)
    for k in range(len(grids) - 1, -1, -1):
        g = grids[k]
        t = np.flatnonzero(g.n)
        steps = starts[k] + t
        offsets = lens[steps]
        lens[steps] += g.n[t]
        anchors = g.anchor(t).tolist()
        cells = g.cell(t, g.y0[t]).tolist()
        fields = zip(repeat(g), t.tolist(), anchors, cells, g.n[t].tolist(), offsets.tolist())
        for step, seg in zip(steps.tolist(), map(Segment._make, fields)):
            segments[step].append(seg)
    return segments, lens


def decode_steps(grids: list[Grid]) -> DecodeSteps:
    """The steps that decode ``grids`` (finest first), with the copies between grids."""
    levels = len(grids)
    starts = grid_starts(levels)
    n_steps = num_steps([(g.h, g.w) for g in grids])
    segments, lens = _segments(grids, starts, n_steps)
    copies: list[list[Callable[[], None]]] = [[] for _ in range(n_steps + 1)]
    for k in range(1, levels):
        for until, copy in coarser_copies(grids[k], grids[k - 1]):
            copies[starts[k] + until].append(copy)
    steps, pending = [], []
    for n, segs, before in zip(lens.tolist(), segments, copies):
        pending += before
        if n:  # (a step can be empty when every grid in progress is narrower than the slope)
            single = len(segs) == 1
            steps.append(Step(pending or None, n, segs, single))
            pending = []
    return DecodeSteps(steps, pending + copies[n_steps], int(lens.max()), grids)
