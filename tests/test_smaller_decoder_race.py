"""A smaller decoder in the race of starts (NoisePhase.start_race_small_ratio): on the smoothest
photos at low rates a narrower ARM and synthesis can beat the default decoder by more than its
networks' bits, and only a race tells which photos; the winner's file is its own single start's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lnic.bitstream.container import unpack_file
from lnic.encoder import fitting, race
from lnic.encoder.encode import RIVAL_SEED_OFFSET, encode_array
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import PRESETS, NoisePhase, Preset, StraightThroughPhase
from lnic.encoder.race import Entrant, races_smaller_decoder, start_race
from lnic.encoder.rate_control import estimated_weight_bytes
from lnic.encoder.sizing import choose_architecture, smaller_architecture
from lnic.model.architecture import Architecture


def _preset(small_ratio: float, share: float = 0.25, small_seeds: int = 1) -> Preset:
    phase = NoisePhase(
        8,
        start_race_share=share,
        start_race_ratio=1e6,
        start_race_small_ratio=small_ratio,
        start_race_small_seeds=small_seeds,
    )
    return Preset("s", (phase, StraightThroughPhase(2)))


class _Fixed:
    """A training whose hard-rounded loss is ``loss`` whatever it runs."""

    def __init__(self, loss: float) -> None:
        self.loss, self.done = loss, 0

    def advance(self, until: int) -> None:
        self.done = until

    def rounded_loss(self) -> float:
        return self.loss

    def finish(self) -> dict[str, float]:
        return {}


def test_the_race_adds_each_start_handicap_and_keeps_the_earlier_start_on_a_tie():
    entrants = [Entrant(_Fixed(loss)) for loss in (1.0, 0.75, 1.25)]
    assert start_race(entrants, 5, [0.0, 0.0, 0.0]) == 1
    assert start_race(entrants, 5, [0.0, 0.0, -0.75]) == 2  # the smaller networks' bits
    assert start_race(entrants, 5, [0.0, 0.25, 0.0]) == 0  # 1.0 against 1.0: the first
    assert all(e.run.done == 5 for e in entrants)
    with pytest.raises(ValueError):
        start_race(entrants, 5, [0.0, 0.0])


def test_the_smaller_decoder_narrows_the_default_one_and_not_the_small_images_ones():
    big = choose_architecture(512, 768)
    small = smaller_architecture(big)
    assert small is not None and small.levels == big.levels
    assert (small.arm_hidden, small.arm_layers, small.synth_hidden) == (8, 2, 24)
    assert estimated_weight_bytes(small) < 0.65 * estimated_weight_bytes(big)
    assert small.mac_table(512, 768)["total"] < big.mac_table(512, 768)["total"]
    assert smaller_architecture(small) is None
    for h, w in ((256, 256), (64, 64), (16, 16)):  # the size classes are narrower already
        assert smaller_architecture(choose_architecture(h, w)) is None


def test_the_smaller_decoder_races_only_below_its_own_ratio():
    ramp = torch.linspace(0, 1, 32)[None, None, :].expand(3, 32, 32)
    assert races_smaller_decoder(ramp, 0.01, _preset(1e6).phases[0])
    assert not races_smaller_decoder(ramp, 0.01, _preset(1e-9).phases[0])
    assert not races_smaller_decoder(ramp, 0.01, _preset(0.0).phases[0])  # 0: never
    assert not races_smaller_decoder(ramp, 0.01, _preset(1e6, share=0.0).phases[0])  # no race
    above_race = NoisePhase(8, start_race_share=0.25, start_race_small_ratio=1e6)
    assert not races_smaller_decoder(ramp, 0.01, above_race)  # where the starts do not race


@pytest.mark.parametrize("small_seeds", [1, 2])
def test_a_race_with_the_smaller_decoder_runs_three_or_four_starts(small_seeds):
    asked: list[tuple[Architecture, int]] = []

    def seeded(arch: Architecture, k: int) -> OverfittedCodec:
        asked.append((arch, k))
        torch.manual_seed(101 * k + 1)
        return OverfittedCodec(arch, 16, 16)

    torch.manual_seed(1)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    seen: list[tuple[int, int]] = []
    trained, stats = fitting.fit_best(
        model,
        torch.rand(3, 16, 16),
        0.01,
        _preset(1e6, small_seeds=small_seeds),
        lambda done, total, _: seen.append((done, total)),
        seeded=seeded,
    )
    small = smaller_architecture(model.arch)
    assert asked == [(model.arch, 1), (small, 1), (small, 0)][: 1 + small_seeds]
    steps = 10 + 2 * (1 + small_seeds)
    assert int(stats["steps"]) == steps and seen[-1] == (steps, steps)
    assert trained.arch in (model.arch, small)


@pytest.mark.parametrize("small_wins", [False, True])
def test_an_encode_whose_smaller_decoder_wins_writes_its_single_start_file(monkeypatch, small_wins):
    rng = np.random.default_rng(5)
    ramp = np.linspace(40, 210, 264)[None, :, None] + rng.normal(0, 2, (256, 264, 3))
    rgb = np.clip(ramp, 0, 255).astype(np.uint8)  # above 256x256: the default decoder
    big = choose_architecture(256, 264)
    small = smaller_architecture(big)
    assert small is not None
    real = estimated_weight_bytes

    def rigged(arch: Architecture) -> float:  # the race's handicap decides who wins
        return real(arch) + (0.0 if (arch == small) is small_wins else 1e9)

    monkeypatch.setattr(fitting, "estimated_weight_bytes", rigged)
    raced = encode_array(rgb, quality=1, preset=_preset(1e6), seed=0)
    header = unpack_file(raced.bitstream).header
    assert header.arch == (small if small_wins else big)
    assert raced.mac_table == header.arch.mac_table(256, 264)
    if small_wins:  # the file of the smaller decoder alone, from the rival seed
        alone = encode_array(rgb, 1, _preset(0.0, share=0.0), seed=RIVAL_SEED_OFFSET, arch=small)
        assert raced.bitstream == alone.bitstream


def test_the_fourth_start_is_the_smaller_decoder_from_the_encodes_own_seed(monkeypatch):
    rng = np.random.default_rng(5)
    ramp = np.linspace(40, 210, 264)[None, :, None] + rng.normal(0, 2, (256, 264, 3))
    rgb = np.clip(ramp, 0, 255).astype(np.uint8)
    small = smaller_architecture(choose_architecture(256, 264))
    chosen: list[int] = []

    def last(entrants, steps, handicaps):  # the race's last start goes on, whatever it scores
        assert len(entrants) == len(handicaps) == 4
        for entrant in entrants:
            entrant.advance(steps)
        chosen.append(len(entrants) - 1)
        return chosen[-1]

    monkeypatch.setattr(race, "start_race", last)
    raced = encode_array(rgb, quality=1, preset=_preset(1e6, small_seeds=2), seed=3)
    alone = {
        s: encode_array(rgb, 1, _preset(0.0, share=0.0), seed=s, arch=small).bitstream
        for s in (3, 3 + RIVAL_SEED_OFFSET)
    }
    assert chosen == [3] and alone[3] != alone[3 + RIVAL_SEED_OFFSET]
    assert raced.bitstream == alone[3]
    assert raced.steps == 10 + 3 * 2


def test_an_encode_that_names_its_decoder_races_no_other_one():
    rng = np.random.default_rng(6)
    rgb = rng.integers(100, 110, (24, 24, 3), dtype=np.uint8)
    arch = Architecture(levels=choose_architecture(24, 24).levels)
    named = encode_array(rgb, quality=1, preset=_preset(1e6), seed=0, arch=arch)
    assert named.steps == 10 + 2  # one rival of its own decoder, no smaller one
    assert unpack_file(named.bitstream).header.arch == arch


def test_the_default_preset_races_the_smaller_decoder_below_its_finest_grid_ratio():
    phase = PRESETS["default"].phases[0]
    assert 0 < phase.start_race_small_ratio <= phase.finest_grid_ratio
    assert phase.start_race_small_seeds == 2  # from both seeds: four starts
    assert (
        PRESETS["default"]
        .describe()
        .endswith("(+800-2400 trial or race steps where fine detail is scarce)")
    )


@pytest.mark.parametrize("with_small", [False, True])
def test_three_seeds_race_alone_and_two_beside_the_smaller_decoder(with_small):
    """``start_race_seeds`` 3 races three starts of the encode's decoder for
    ``start_race_share`` of the phase where the smaller decoder does not race; where it does,
    the encode's decoder starts from two seeds and every start runs
    ``start_race_small_share``."""
    asked: list[tuple[Architecture, int]] = []

    def seeded(arch: Architecture, k: int) -> OverfittedCodec:
        asked.append((arch, k))
        torch.manual_seed(101 * k + 1)
        return OverfittedCodec(arch, 16, 16)

    phase = NoisePhase(
        8,
        start_race_share=0.125,  # 1 step
        start_race_seeds=3,
        start_race_small_share=0.25,  # 2 steps
        start_race_ratio=1e6,
        start_race_small_ratio=1e6 if with_small else 0.0,
        start_race_small_seeds=2,
    )
    torch.manual_seed(1)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    _, stats = fitting.fit_best(
        model,
        torch.rand(3, 16, 16),
        0.01,
        Preset("s", (phase, StraightThroughPhase(2))),
        seeded=seeded,
    )
    small = smaller_architecture(model.arch)
    if with_small:
        assert asked == [(model.arch, 1), (small, 1), (small, 0)]
        assert int(stats["steps"]) == 10 + 3 * 2
    else:
        assert asked == [(model.arch, 1), (model.arch, 2)]
        assert int(stats["steps"]) == 10 + 2 * 1
