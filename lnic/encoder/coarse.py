"""Staged resolution: fit the coarser grids on a half-resolution image first.

A training step costs about in proportion to the pixels, so a step at half resolution costs a
quarter of a full one. Latent grids 1..L-1 of an ``H x W`` image have exactly the shapes of
grids 0..L-2 of its ``ceil(H/2) x ceil(W/2)`` half, and the decoder's networks do not depend on
the image size, so a model fitted to the half image is a warm start for the full one: its grids
become the full model's grids 1..L-1, its ARM is kept whole, its upsampling filters serve the
same transitions, and the synthesis gets one more input column (the finest grid, still at
zero). The full-resolution phase then starts from the upsampled half-resolution fit.

Measured (training notes, session 4): 1000 half-resolution steps + 400 full ones (about the
default preset's time) landed at +112% (kodim23) and +89% (kodim01) against Cool-chic 5.0,
where 600 full steps give +105% and +35%: the finest grid needs full-resolution steps. The
presets leave it off (``Preset.coarse_steps = 0``).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from lnic.encoder.nets.codec import OverfittedCodec

STEP_COST = 0.25
"""A half-resolution step costs about a quarter of a full one. The schedule (temperature, noise,
learning rate) is shared by both stages in proportion to their cost: the coarse stage runs its
first ``coarse_steps * STEP_COST / (coarse_steps * STEP_COST + noise_steps)``."""

MIN_LEVELS = 3
"""The half-resolution model needs at least two grids (one upsampling transition)."""


def half_resolution(target: torch.Tensor) -> torch.Tensor:
    """2x2 mean of [C, H, W] (odd sizes: the last row / column replicated) -> [C, H/2, W/2]."""
    _, h, w = target.shape
    padded = F.pad(target[None], (0, w % 2, 0, h % 2), mode="replicate")
    return F.avg_pool2d(padded, 2)[0]


def coarse_model(model: OverfittedCodec) -> OverfittedCodec:
    """A fresh model for the half-resolution image, one grid fewer than ``model``."""
    h, w = model.latents.shapes[0]
    arch = dataclasses.replace(model.arch, levels=model.arch.levels - 1)
    return OverfittedCodec(arch, math.ceil(h / 2), math.ceil(w / 2))


@torch.no_grad()
def transfer(coarse: OverfittedCodec, model: OverfittedCodec) -> None:
    """Load a trained half-resolution model into the full-resolution ``model`` (in place).

    ``coarse`` must have its latent steps folded (as :func:`lnic.encoder.train.fit` leaves it).
    The finest grid stays at zero and its synthesis column keeps its initial values.
    """
    for dst, src in zip(list(model.latents.grids)[1:], coarse.latents.grids):
        dst.copy_(src)
    model.arm.load_state_dict(coarse.arm.state_dict())
    model.upsampler.taps[1:] = coarse.upsampler.taps
    model.upsampler.pre[1:] = coarse.upsampler.pre
    s, c = model.synthesis, coarse.synthesis
    s.lin1.weight[:, 1:] = c.lin1.weight
    s.lin1.bias.copy_(c.lin1.bias)
    for name in ("lin2", "conv_a", "conv_b"):
        getattr(s, name).load_state_dict(getattr(c, name).state_dict())
