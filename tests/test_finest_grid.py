"""The encoder's choice to leave the finest latent grid empty (lnic.encoder.finest_grid)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import decoded_parts

import lnic
from lnic.encoder import fitting, train
from lnic.encoder.encode import encode_array
from lnic.encoder.finest_grid import (
    choose,
    early_choice,
    finest_detail,
    leaves_finest_grid,
    trial_leaves,
)
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import PRESETS, QUALITY_LAMBDAS, NoisePhase, Preset, StraightThroughPhase
from lnic.model.architecture import Architecture


def test_finest_detail_is_what_half_resolution_loses():
    flat = torch.full((3, 16, 16), 0.3)
    assert finest_detail(flat) == pytest.approx(0.0, abs=1e-12)
    # a one-pixel checkerboard: every 2x2 mean is 0.5, every pixel 0.5 away from it
    checker = ((torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2).float()
    assert finest_detail(checker.expand(3, 16, 16)) == pytest.approx(0.25, rel=1e-6)
    ramp = torch.linspace(0, 1, 16)[None, None, :].expand(3, 16, 16)
    assert 0 < finest_detail(ramp) < 1e-3
    odd = torch.rand(3, 15, 17)  # odd sizes: the half image is rounded up, the result cropped
    assert 0 < finest_detail(odd) < 1


def test_the_finest_grid_is_left_only_below_ratio_times_lambda():
    ramp = torch.linspace(0, 1, 32)[None, None, :].expand(3, 32, 32)
    detail = finest_detail(ramp)
    assert leaves_finest_grid(ramp, 0.01, 1.01 * detail / 0.01)
    assert not leaves_finest_grid(ramp, 0.01, 0.99 * detail / 0.01)
    assert not leaves_finest_grid(ramp, 0.01, 0.0)  # ratio 0: never


def _preset(ratio: float) -> Preset:
    return Preset("t", (NoisePhase(6, finest_grid_ratio=ratio), StraightThroughPhase(2)))


@pytest.mark.parametrize("ratio, left", [(1e6, True), (0.0, False)])
def test_fit_keeps_a_left_finest_grid_at_exact_zero_and_trains_the_others(ratio, left):
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    fitting.fit(model, target, 0.01, _preset(ratio))
    finest, *coarser = model.latents.grids
    assert bool(torch.all(finest == 0)) is left
    assert model.latents.empty == ({0} if left else set())
    assert all(bool(g.abs().sum() > 0) for g in coarser)


def test_a_left_finest_grid_gets_no_proxy_noise(monkeypatch):
    seen = []
    real = train.proxy

    def spy(g, temperature, noise_std):
        seen.append(tuple(g.shape))
        return real(g, temperature, noise_std)

    monkeypatch.setattr(train, "proxy", spy)
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    fitting.fit(model, torch.rand(3, 16, 16), 0.01, _preset(1e6))
    assert seen and (16, 16) not in seen and (8, 8) in seen


def test_an_encode_that_leaves_the_finest_grid_writes_it_as_zeros():
    rng = np.random.default_rng(0)
    smooth = np.linspace(40, 200, 48)[None, :, None] + rng.normal(0, 0.5, (48, 48, 3))
    rgb = np.clip(smooth, 0, 255).astype(np.uint8)
    fast = PRESETS["fast"].with_steps(12)
    preset = dataclasses.replace(
        fast, phases=(dataclasses.replace(fast.phases[0], finest_grid_ratio=1e6), fast.phases[1])
    )
    data = lnic.encode(rgb, quality=4, preset=preset, seed=0)
    _, grids = decoded_parts(data)
    assert not np.any(grids[0]) and any(np.any(g) for g in grids[1:])
    assert lnic.decode(data).shape == rgb.shape


def test_the_default_preset_leaves_a_smooth_images_finest_grid_and_keeps_a_textured_ones():
    rng = np.random.default_rng(1)
    smooth = np.linspace(30, 220, 40)[None, :, None] + np.linspace(0, 20, 40)[:, None, None]
    smooth = np.clip(smooth + rng.normal(0, 0.3, (40, 40, 3)), 0, 255).astype(np.uint8)
    textured = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    default = PRESETS["default"].with_steps(30)
    for rgb, left in ((smooth, True), (textured, False)):
        left_by_rule = leaves_finest_grid(
            torch.from_numpy(rgb / 255.0).permute(2, 0, 1), QUALITY_LAMBDAS[8], 0.1
        )
        assert left_by_rule is left
        _, (finest, *_) = decoded_parts(lnic.encode(rgb, quality=8, preset=default, seed=0))
        assert (not np.any(finest)) is left


def test_the_default_preset_tries_both_ways_between_its_rule_and_its_trial_ratio():
    rng = np.random.default_rng(1)
    smooth = np.linspace(30, 220, 40)[None, :, None] + np.linspace(0, 20, 40)[:, None, None]
    default = PRESETS["default"].with_steps(30)
    trial = default.phases[0].finest_grid_trial_steps
    early = default.phases[0].finest_grid_trial_early_steps
    assert 0 < early < trial
    for noise, tried in ((1.5, True), (4.0, False)):
        rgb = np.clip(smooth + rng.normal(0, noise, (40, 40, 3)), 0, 255).astype(np.uint8)
        ratio = finest_detail(torch.from_numpy(rgb / 255.0).permute(2, 0, 1)) / QUALITY_LAMBDAS[8]
        phase = default.phases[0]
        assert (phase.finest_grid_ratio < ratio < phase.finest_grid_trial_ratio) is tried
        result = encode_array(rgb, quality=8, preset=default, seed=0)
        # a trial ends at its early checkpoint where one fit is already well ahead; above the
        # trial's range this smooth picture races its starts instead (its detail is below the
        # preset's start_race_detail)
        assert ratio * QUALITY_LAMBDAS[8] < phase.start_race_detail
        race = phase.start_race_extra_steps
        assert result.steps in ((30 + early, 30 + trial) if tried else (30 + race,))


def test_only_the_default_preset_leaves_the_finest_grid():
    # fast and slow have not been measured with the rule (benchmarks/ablation.md)
    for field in ("finest_grid_ratio", "finest_grid_trial_share", "finest_grid_trial_ratio"):
        values = {
            name: [getattr(p, field, 0.0) for p in preset.phases]
            for name, preset in PRESETS.items()
        }
        assert values["default"][0] > 0
        assert all(v == 0.0 for name, vs in values.items() for v in vs if name != "default")


def test_choose_leaves_below_the_rule_tries_up_to_the_trial_ratio_and_keeps_above():
    ramp = torch.linspace(0, 1, 32)[None, None, :].expand(3, 32, 32)
    bits = finest_detail(ramp) / 0.01  # the ramp's detail in bits per pixel at lambda 0.01
    assert choose(ramp, 0.01, 1.01 * bits, 2 * bits) == "leave"
    assert choose(ramp, 0.01, 0.99 * bits, 1.01 * bits) == "trial"
    assert choose(ramp, 0.01, 0.5 * bits, 0.99 * bits) == "keep"
    assert choose(ramp, 0.01, 0.0, 0.0) == "keep"  # neither rule nor trial
    assert trial_leaves(1.0, 0.95, 0.04) and not trial_leaves(1.0, 0.97, 0.04)


def _trial_preset(margin: float, share: float = 0.5, ratio: float = 0.0, **early: float) -> Preset:
    noise = NoisePhase(
        8,
        finest_grid_ratio=ratio,
        finest_grid_trial_share=share,
        finest_grid_trial_ratio=1e6,
        finest_grid_trial_margin=margin,
        **early,
    )
    return Preset("t", (noise, StraightThroughPhase(2)))


def _fitted(preset: Preset, target: torch.Tensor) -> tuple[OverfittedCodec, dict[str, float]]:
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    seen: list[tuple[int, int]] = []
    stats = fitting.fit(
        model, target, 0.01, preset, lambda done, total, _: seen.append((done, total))
    )
    steps = int(stats["steps"])  # progress counts the trial's steps, and ends at its total
    assert seen[-1] == (steps, steps) and len(seen) == steps
    return model, stats


@pytest.mark.parametrize("margin, left", [(1.0, False), (-1e9, True)])
def test_a_trial_goes_on_exactly_as_the_fit_it_chose(margin, left):
    # margin 1: the empty grid can never win the trial; -1e9: it always does
    target = torch.rand(3, 16, 16)
    raced, stats = _fitted(_trial_preset(margin), target)
    alone, alone_stats = _fitted(_trial_preset(margin, 0.0, 1e6 if left else 0.0), target)
    assert int(stats["steps"]) == int(alone_stats["steps"]) + 4  # 4 trial steps the other way
    assert raced.latents.empty == alone.latents.empty == ({0} if left else set())
    for a, b in zip(raced.state_dict().values(), alone.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "early, left, trial_steps",
    [
        # the early point decides: leave at any lead, or keep at any lead
        ({"finest_grid_trial_early_leave": -1e9}, True, 2),
        ({"finest_grid_trial_early_leave": 1e9, "finest_grid_trial_early_keep": 1e9}, False, 2),
        # it cannot decide, so the trial's end does (margin 1: keep)
        ({"finest_grid_trial_early_leave": 1e9, "finest_grid_trial_early_keep": -1e9}, False, 4),
    ],
)
def test_an_early_decision_goes_on_exactly_as_the_fit_it_chose(early, left, trial_steps):
    target = torch.rand(3, 16, 16)
    preset = _trial_preset(1.0, finest_grid_trial_early_share=0.25, **early)
    raced, stats = _fitted(preset, target)
    alone, alone_stats = _fitted(_trial_preset(1.0, 0.0, 1e6 if left else 0.0), target)
    assert int(stats["steps"]) == int(alone_stats["steps"]) + trial_steps
    assert raced.latents.empty == alone.latents.empty == ({0} if left else set())
    for a, b in zip(raced.state_dict().values(), alone.state_dict().values()):
        assert torch.equal(a, b)


def test_early_choice_decides_only_beyond_its_leads():
    assert early_choice(1.0, 0.85, 0.1, 0.0) == "leave"
    assert early_choice(1.0, 1.01, 0.1, 0.0) == "keep"
    assert early_choice(1.0, 0.95, 0.1, 0.0) is None


def test_no_trial_in_a_size_targeted_fit_or_without_trial_steps():
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    assert fitting.finest_grid_choice(model, target, 0.01, _trial_preset(0.04)) == "trial"
    assert fitting.finest_grid_choice(model, target, 0.01, _trial_preset(0.04), True) == "keep"
    assert fitting.finest_grid_choice(model, target, 0.01, _trial_preset(0.04, 0.0)) == "keep"
