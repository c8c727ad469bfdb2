"""The race of starts (lnic.encoder.race.start_race): two seeds train side by side for a few
steps and the one with the lower hard-rounded loss goes on, exactly as it would have alone."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace

import numpy as np
import pytest
import torch

from lnic.encoder import fitting
from lnic.encoder.encode import RIVAL_SEED_OFFSET, encode_array
from lnic.encoder.finest_grid import finest_detail
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import (
    PRESETS,
    QUALITY_LAMBDAS,
    NoisePhase,
    Preset,
    StraightThroughPhase,
)
from lnic.encoder.race import races_starts, run_race
from lnic.model.architecture import Architecture

ARCH = Architecture(levels=3)


def _preset(share: float, ratio: float = 1e6, **noise: float) -> Preset:
    phase = NoisePhase(8, start_race_share=share, start_race_ratio=ratio, **noise)
    return Preset("r", (phase, StraightThroughPhase(2)))


def _model(seed: int, handicap: bool = False) -> OverfittedCodec:
    """A start from ``seed``; with ``handicap``, its latents start far from zero, so that its
    rate keeps it behind any fresh start for the first steps (no random draw either way)."""
    torch.manual_seed(seed)
    model = OverfittedCodec(ARCH, 16, 16)
    if handicap:
        with torch.no_grad():
            for g in model.latents.grids:
                g.fill_(1000.0)
    return model


@pytest.mark.parametrize("leave", [False, True])
@pytest.mark.parametrize("second_wins", [False, True])
def test_a_race_goes_on_exactly_as_the_start_that_led(leave, second_wins):
    target = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(7))
    rule = {"finest_grid_ratio": 1e6} if leave else {}
    handicaps = {1: second_wins, 101: not second_wins}  # the handicapped start loses the race
    raced = _model(1, handicaps[1])
    seen: list[tuple[int, int]] = []
    trained, stats = fitting.fit_best(
        raced,
        target,
        0.01,
        _preset(0.25, **rule),
        lambda done, total, _: seen.append((done, total)),
        seeded=lambda _arch, _k: _model(101, handicaps[101]),
    )
    assert int(stats["steps"]) == 10 + 2 and seen[-1] == (12, 12)  # the loser's 2 steps too
    assert (trained is raced) is not second_wins
    alone = {}
    for s in (1, 101):  # each fit draws its noise right after its model's start
        alone[s] = _model(s, handicaps[s])
        fitting.fit(alone[s], target, 0.01, _preset(0.0, **rule))
    winner, loser = (101, 1) if second_wins else (1, 101)
    assert trained.latents.empty == alone[winner].latents.empty == ({0} if leave else set())
    for a, b in zip(trained.state_dict().values(), alone[winner].state_dict().values()):
        assert torch.equal(a, b)
    other = alone[loser].state_dict().values()
    assert any(not torch.equal(a, b) for a, b in zip(trained.state_dict().values(), other))


def test_starts_race_only_below_the_ratio_and_with_race_steps():
    ramp = torch.linspace(0, 1, 32)[None, None, :].expand(3, 32, 32)
    bits = finest_detail(ramp) / 0.01  # the ramp's detail in bits per pixel at lambda 0.01
    assert races_starts(ramp, 0.01, _preset(0.25, 1.01 * bits).phases[0])
    assert not races_starts(ramp, 0.01, _preset(0.25, 0.99 * bits).phases[0])
    assert not races_starts(ramp, 0.01, _preset(0.0, 1.01 * bits).phases[0])  # no steps
    assert not races_starts(ramp, 0.01, _preset(0.25, 0.0).phases[0])  # ratio 0: never


def test_a_smooth_photo_races_at_any_lambda_below_the_detail():
    ramp = torch.linspace(0, 1, 32)[None, None, :].expand(3, 32, 32)
    detail = finest_detail(ramp)
    assert detail > 0
    phase = _preset(0.25, 1.0, start_race_detail=1.01 * detail).phases[0]
    tiny = 1e-3 * detail  # a lambda at which the detail is worth 1,000 bits per pixel
    assert races_starts(ramp, tiny, phase)
    assert not races_starts(ramp, tiny, replace(phase, start_race_detail=0.99 * detail))
    assert not races_starts(ramp, tiny, replace(phase, start_race_share=0.0))  # no steps


def test_middling_detail_races_only_at_high_rates():
    ramp = torch.linspace(0, 1, 32)[None, None, :].expand(3, 32, 32)
    detail = finest_detail(ramp)
    high, lower = 0.5 * detail, 0.6 * detail  # lambdas where the detail is worth 2 and 1.7 bits
    rule = {"start_race_high_detail": 1.01 * detail, "start_race_high_lambda": high}
    phase = _preset(0.25, 1.0, **rule).phases[0]  # the ratio rule races above lambda = detail
    assert races_starts(ramp, high, phase)
    assert not races_starts(ramp, lower, phase)  # a lower rate: only the other rules apply
    assert not races_starts(ramp, high, replace(phase, start_race_high_detail=0.99 * detail))
    assert not races_starts(ramp, high, replace(phase, start_race_high_lambda=0.0))  # 0: never
    assert not races_starts(ramp, high, replace(phase, start_race_share=0.0))  # no steps


def test_every_photo_races_at_the_highest_rates():
    textured = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(6))
    detail = finest_detail(textured)
    top, lower = 1e-3 * detail, 2e-3 * detail  # lambdas where the detail is worth 500+ bits
    phase = _preset(0.25, 1.0, start_race_all_lambda=top).phases[0]
    assert not races_starts(textured, top, replace(phase, start_race_all_lambda=0.0))  # never
    assert races_starts(textured, top, phase)
    assert races_starts(textured, 0.5 * top, phase)
    assert not races_starts(textured, lower, phase)
    assert not races_starts(textured, top, replace(phase, start_race_share=0.0))  # no steps


def test_no_race_without_a_rival_or_where_a_finest_grid_trial_runs():
    target = torch.rand(3, 16, 16)
    calls: list[int] = []

    def rival(_arch: Architecture, _k: int) -> OverfittedCodec:
        calls.append(1)
        return _model(5)

    stats = fitting.fit(_model(0), target, 0.01, _preset(0.25))
    assert int(stats["steps"]) == 10  # no rival, no race
    trial = {"finest_grid_trial_share": 0.25, "finest_grid_trial_ratio": 1e6}
    _, stats = fitting.fit_best(_model(0), target, 0.01, _preset(0.25, **trial), seeded=rival)
    assert int(stats["steps"]) in (12, 11) and not calls  # the trial's steps, not a race's


def test_an_encode_races_its_seed_against_the_rival_seed():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    raced = encode_array(rgb, quality=4, preset=_preset(0.25), seed=0).bitstream
    alone = {
        s: encode_array(rgb, quality=4, preset=_preset(0.0), seed=s).bitstream
        for s in (0, RIVAL_SEED_OFFSET)
    }
    assert alone[0] != alone[RIVAL_SEED_OFFSET]
    assert raced in alone.values()


def test_a_preset_says_what_its_race_adds():
    assert _preset(0.25).describe() == (
        "8 noise-proxy steps + 2 straight-through steps (+2 race steps where fine detail is scarce)"
    )
    both = NoisePhase(8, finest_grid_trial_share=0.5, start_race_share=0.25)
    assert (
        Preset("b", (both,))
        .describe()
        .endswith("(+2-4 trial or race steps where fine detail is scarce)")
    )
    assert _preset(0.0).describe() == "8 noise-proxy steps + 2 straight-through steps"


def test_the_default_preset_races_below_its_ratio_and_not_on_texture():
    default = PRESETS["default"].with_steps(30)
    phase = default.phases[0]
    race = phase.start_race_steps * len(phase.start_race_rival_ks)  # every start but the winner
    assert race > 0 and len(phase.start_race_rival_ks) == 2  # three starts of the decoder
    rng = np.random.default_rng(4)
    gradient = np.linspace(60, 200, 40)[None, :, None] + np.zeros((40, 1, 3))
    smooth = np.clip(gradient, 0, 255).astype(np.uint8)  # no finest detail: empty grid, race
    textured = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)  # far above 1 bit per pixel
    for rgb, raced in ((smooth, True), (textured, False)):
        result = encode_array(rgb, quality=4, preset=default, seed=0)
        assert result.steps == 30 + (race if raced else 0)


def test_the_default_races_middling_detail_at_qualities_7_and_8_only():
    phase = PRESETS["default"].phases[0]
    noise = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(5)) - 0.5
    scale = (0.0018 / finest_detail(noise + 0.5)) ** 0.5  # dev23's and kodim14's detail
    target = 0.5 + scale * noise
    assert abs(finest_detail(target) - 0.0018) < 1e-5
    for quality in (5, 6, 7, 8):  # below q5 the detail is worth < 1 bit per pixel: a race anyway
        assert races_starts(target, QUALITY_LAMBDAS[quality], phase) == (quality >= 7), quality


def test_the_default_races_every_photo_at_quality_8_only():
    phase = PRESETS["default"].phases[0]
    textured = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(7))
    assert finest_detail(textured) > 0.01  # above every detail rule
    for quality in (5, 6, 7, 8):
        assert races_starts(textured, QUALITY_LAMBDAS[quality], phase) == (quality == 8), quality


def test_a_race_of_three_starts_goes_on_with_the_third_where_it_leads():
    """With ``start_race_seeds`` 3 the encode's decoder starts from three seeds (0, 1, 2 of the
    race) and the best of the three goes on."""
    target = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(7))
    asked: list[int] = []

    def seeded(_arch, k):
        asked.append(k)
        return _model(100 + k, handicap=k != 2)  # only seed 2 starts without a handicap

    raced = _model(1, handicap=True)
    preset = _preset(0.25, start_race_seeds=3)
    seen: list[tuple[int, int]] = []
    trained, stats = fitting.fit_best(
        raced,
        target,
        0.01,
        preset,
        lambda done, total, _: seen.append((done, total)),
        seeded=seeded,
    )
    assert asked == [1, 2]
    assert int(stats["steps"]) == 10 + 2 * 2 and seen[-1] == (14, 14)  # the two losers' 2 steps
    alone = _model(102)
    fitting.fit(alone, target, 0.01, _preset(0.0))
    for a, b in zip(trained.state_dict().values(), alone.state_dict().values()):
        assert torch.equal(a, b)


class _Start:
    """A stand-in for a model in :func:`run_race`: only its identity matters."""


class _FixedRun:
    """A training whose hard-rounded loss is ``loss``; its steps do nothing but count, and past
    the race it notes whether the race's other starts are still alive."""

    def __init__(self, loss: float, others: list[weakref.ref]) -> None:
        self.loss, self.others, self.done, self.others_alive = loss, others, 0, None

    def advance(self, until: int) -> None:
        if until > 2:  # the winner's run after the race
            gc.collect()
            self.others_alive = sum(ref() is not None for ref in self.others)
        self.done = until

    def rounded_loss(self) -> float:
        return self.loss

    def finish(self) -> dict[str, float]:
        return {"alive": float(self.others_alive)}


def test_the_race_lets_its_losers_go_before_the_winner_goes_on():
    """The losers' models and trainings (their latents and optimiser moments: hundreds of
    megabytes each on a large photo) are freed before the winner's long run."""
    refs: list[weakref.ref] = []
    losses = iter([0.3, 0.1, 0.2])  # the second start wins

    def start() -> _Start:
        model = _Start()
        refs.append(weakref.ref(model))
        return model

    def training(model: _Start) -> _FixedRun:
        return _FixedRun(next(losses), [r for r in refs if r() is not model])

    winner, stats = run_race([start, start, start], training, 2, 10, lambda _m: 0.0)
    assert winner is refs[1]()
    assert stats["alive"] == 0.0
