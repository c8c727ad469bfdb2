"""The decoder's synthesis streams the image band by band of rows: any band size gives the
pixels of the whole-image integer reference (``upsample_integer`` + ``synthesis_integer``).

The bands carry rows of ``y`` and ``u`` from one to the next instead of recomputing a halo, and
the window of ``y`` rows moves its rows to the front when full: odd image sizes, one-row bands,
a band as tall as the image and a small window check every edge of that bookkeeping.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lnic.decoder import synthesis
from lnic.decoder.upsampling import FixedPointUpsampler
from lnic.format import SYNTH_ACT_CLAMP, SYNTH_FRAC_BITS
from lnic.model.parts import DecoderWeights
from lnic.model.synthesis import synthesis_integer
from lnic.model.upsampling import upsample_integer

sys.path.insert(0, str(Path(__file__).parent / "data"))
from helpers import decoded_parts  # noqa: E402
from make_golden import synthetic_bitstream  # noqa: E402


@pytest.fixture(autouse=True, params=["c", "numpy"])
def kernels(request, monkeypatch):
    """Every test runs with the C kernels and with the numpy code."""
    from lnic.decoder import c_kernels

    if request.param == "numpy":
        monkeypatch.setenv("LNIC_NATIVE_DECODE", "0")
    elif c_kernels.load() is None:
        pytest.skip("the C pixel kernels cannot be built here (no C compiler)")
    return request.param


def _parts(height: int, width: int, channels: int, seed: int):
    return decoded_parts(synthetic_bitstream(height, width, channels, seed, 3.0, check=False))


def _loud_conv_a(weights: DecoderWeights) -> DecoderWeights:
    """conv_a with weights large enough that its clamp may bite (the other path of the plan)."""
    conv_a = weights.synthesis.conv_a
    loud = replace(conv_a, weight=conv_a.weight * 64)
    return replace(weights, synthesis=replace(weights.synthesis, conv_a=loud))


def _reference(weights: DecoderWeights, grids: list[np.ndarray]) -> np.ndarray:
    z = upsample_integer(grids, weights.upsampling, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    y = synthesis_integer(weights.synthesis, z, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    pixels = np.clip(np.floor(y * (255.0 * 2.0**-SYNTH_FRAC_BITS) + 0.5), 0, 255)
    return pixels.astype(np.uint8).transpose(1, 2, 0)


@pytest.mark.parametrize(
    ("height", "width", "channels", "loud"),
    [(45, 29, 3, False), (45, 29, 3, True), (37, 17, 1, False), (17, 43, 3, False)],
)
def test_every_band_size_gives_the_whole_image_pixels(height, width, channels, loud, monkeypatch):
    weights, grids = _parts(height, width, channels, seed=height + width)
    if loud:
        weights = _loud_conv_a(weights)
    want = _reference(weights, grids)
    upsampler = FixedPointUpsampler(grids, weights.upsampling)
    plan = synthesis._plan(weights.synthesis, upsampler.levels, upsampler.bound)
    assert plan.clamp_a == loud  # both ways of adding y to conv_a(y) are exercised
    monkeypatch.setattr(synthesis, "Y_AHEAD", 1)  # a small y window: it moves its rows often
    for band in sorted({1, 2, 3, 7, 16, height, height + 5}):
        got = synthesis.synthesize(weights.synthesis, upsampler, band)
        assert np.array_equal(got, want), f"band of {band} rows"


def test_default_bands_on_a_wide_image_equal_the_reference():
    """A width over BAND_PIXELS: bands of one row, the y window made 16 rows at a time."""
    weights, grids = _parts(40, synthesis.BAND_PIXELS + 3, 3, seed=5)
    upsampler = FixedPointUpsampler(grids, weights.upsampling)
    assert synthesis._band_rows(upsampler.shape[1]) == 1
    got = synthesis.synthesize(weights.synthesis, upsampler)
    assert np.array_equal(got, _reference(weights, grids))


@pytest.mark.parametrize("l2", ["512K", "32K", "1M", "", "garbage"])
def test_the_1x1_blocks_follow_the_l2_cache_and_give_the_same_pixels(l2, tmp_path, monkeypatch):
    """Blocks of the 1x1 layers sized from the L2 cache (at most BLOCK_PIXELS; one row at least;
    the default where sysfs says nothing usable): the pixels do not move."""
    weights, grids = _parts(29, 45, 3, seed=9)
    want = _reference(weights, grids)
    size = tmp_path / "size"
    size.write_text(l2 + "\n")
    monkeypatch.setattr(synthesis, "L2_SYSFS", size if l2 else tmp_path / "missing")
    synthesis._l2_bytes.cache_clear()
    try:
        hidden = weights.synthesis.lin1.weight.shape[0]
        assert hidden == 40
        # half the cache for 40 float64 activations a pixel: a Zen 2's 512 kB holds one
        # 768-pixel row, a 1 MB cache two (BLOCK_PIXELS's 2048 take two as well)
        expected = {"512K": 819, "32K": 51, "1M": 1638}.get(l2, synthesis.BLOCK_PIXELS)
        assert synthesis.block_pixels(hidden) == expected
        upsampler = FixedPointUpsampler(grids, weights.upsampling)
        assert np.array_equal(synthesis.synthesize(weights.synthesis, upsampler), want)
    finally:
        synthesis._l2_bytes.cache_clear()
