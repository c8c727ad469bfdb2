"""Staged resolution: the half-resolution model is a warm start for the full one."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lnic.encoder import coarse, train
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import PRESETS
from lnic.model.architecture import Architecture


@pytest.mark.parametrize("h,w", [(32, 48), (37, 53)])
def test_half_model_grids_match_the_full_models_coarser_grids(h, w):
    model = OverfittedCodec(Architecture(levels=4), h, w)
    half = coarse.coarse_model(model)
    target = torch.rand(3, h, w)
    small = coarse.half_resolution(target)
    assert tuple(small.shape[1:]) == half.latents.shapes[0]
    assert half.latents.shapes == model.latents.shapes[1:]
    assert torch.isclose(small[:, 0, 0], target[:, :2, :2].mean((1, 2))).all()
    if h % 2:  # the last row of the half image averages the replicated last row
        assert torch.isclose(small[:, -1, 0], target[:, -1, :2].mean(1)).all()


def test_transfer_carries_the_coarse_fit_into_the_full_model():
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=4), 32, 48)
    half = coarse.coarse_model(model)
    with torch.no_grad():
        for p in half.parameters():
            p.normal_()
        half.latents.log_steps.zero_()
    coarse.transfer(half, model)
    assert torch.equal(model.latents.grids[0], torch.zeros(32, 48))
    for full, small in zip(list(model.latents.grids)[1:], half.latents.grids):
        assert torch.equal(full, small)
    assert torch.equal(model.upsampler.taps[1:], half.upsampler.taps)
    assert torch.equal(model.synthesis.lin1.weight[:, 1:], half.synthesis.lin1.weight)
    x = torch.randn(5, 13)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(half.arm(x), model.arm(x)))


def test_coarse_stage_counts_its_steps_and_trains_a_tiny_image():
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 24, 24)
    ramp = torch.linspace(0, 1, 24)
    target = torch.stack(
        [ramp[:, None] * ramp[None], ramp[None].expand(24, 24), 1 - ramp[:, None].expand(24, 24)]
    )
    preset = dataclasses.replace(
        PRESETS["fast"], coarse_steps=100, noise_steps=60, ste_steps=5, reference_pixels=None
    )
    seen = []
    stats = train.fit(model, target, 0.01, preset, lambda s, t, _: seen.append((s, t)))
    assert seen == [(s, 165) for s in range(1, 166)]
    assert stats["mse"] < 0.5 * float(target.var(dim=(1, 2)).mean())
    assert model.latents.grids[1].abs().sum() > 0  # the coarse fit arrived
