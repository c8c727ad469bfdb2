"""Files built to hurt the decoder: tall and wide images, bombs, inconsistent sections.

The committed corpus (``tests/data/hostile/``, listed in its README.md) is decoded file by file
against its expected outcome; the other tests build their hostile inputs on the fly.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from lnic.decoder.upsampling import FixedPointUpsampler
from lnic.format import SYNTH_ACT_CLAMP, SYNTH_FRAC_BITS
from lnic.model.latents import grid_shapes
from lnic.model.parts import UpsamplingWeights
from lnic.model.quantized import QuantizedLinear
from lnic.model.upsampling import upsample_integer


def _upsampling_weights(levels: int, seed: int, gain: int = 0) -> UpsamplingWeights:
    rng = np.random.default_rng(seed)
    taps = np.array([[-6, -18, 58, 222]] * (levels - 1)) + rng.integers(-9, 10, (levels - 1, 4))
    taps[:, 3] += gain
    pre = np.array([[180, 40, -8, 6]] * levels) + rng.integers(-4, 5, (levels, 4))
    none = np.zeros(0, dtype=np.int64)
    return UpsamplingWeights(QuantizedLinear(taps, none, 8, 0), QuantizedLinear(pre, none, 8, 0))


def _upsampled(grids: list[np.ndarray], weights: UpsamplingWeights, step: int) -> np.ndarray:
    """The decoder's upsampled stack [levels, H, W], asked for in blocks of ``step`` rows."""
    up = FixedPointUpsampler(grids, weights)
    h, w = up.shape
    out = np.empty((up.levels, h, w))
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        up.rows(r0, r1, out[:, r0:r1])
    return out


@pytest.mark.parametrize(
    ("height", "width", "levels", "step", "gain"),
    [
        (37, 40, 4, 16, 0),
        (300, 16, 3, 16, 0),
        (16, 300, 3, 16, 0),
        (33, 21, 5, 7, 0),  # odd block starts, 1- and 2-row grids
        (9, 70, 4, 5, 6000),  # taps that reach the activation clamp
    ],
)
def test_upsampling_equals_the_integer_reference(height, width, levels, step, gain):
    rng = np.random.default_rng(height * width)
    shapes = grid_shapes(height, width, levels)
    grids = [np.round(rng.laplace(0, 30, s)) for s in shapes]
    grids[-1][0, 0] = 4096
    weights = _upsampling_weights(levels, seed=levels, gain=gain)
    want = upsample_integer(grids, weights, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    got = _upsampled(grids, weights, step)
    assert np.array_equal(got, want)
    if gain:
        assert np.abs(got).max() == SYNTH_ACT_CLAMP


def test_tall_image_upsampling_memory_is_linear():
    """A 16 x 4096 (W x H) image: no array of size height x height / 2 (the x2 row pass of the
    finest level would need 64 MiB dense); the whole upsampling stays within a few MiB."""
    height, width, levels = 4096, 16, 3
    grids = [np.zeros(s) for s in grid_shapes(height, width, levels)]
    weights = _upsampling_weights(levels, seed=1)
    tracemalloc.start()
    try:
        up = FixedPointUpsampler(grids, weights)
        block = np.empty((levels, 16, width))
        for r0 in range(0, height, 16):
            up.rows(r0, r0 + 16, block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the stack itself is levels * H * W * 8 = 1.5 MiB; the grids are not counted
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB"
