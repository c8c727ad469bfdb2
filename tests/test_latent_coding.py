import numpy as np
import pytest
from helpers import random_arm, random_grids

from lnic.bitstream.format import ARM_CONTEXT, ARM_WAVEFRONT_SLOPE, SYMBOL_RADIUS
from lnic.bitstream.latent_coding import decode_latents, encode_latents, latent_bits, wavefronts
from lnic.model.latents import grid_shapes, num_levels


@pytest.mark.parametrize("size", [(16, 16), (37, 53), (64, 48)])
def test_range_coder_round_trip(size):
    shapes = grid_shapes(*size, num_levels(*size))
    grids = random_grids(1, shapes)
    arm = random_arm(2)
    coded, escapes = encode_latents(grids, arm)
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))


def test_escapes_round_trip_and_size_matches_estimate():
    shapes = grid_shapes(40, 40, 3)
    grids = random_grids(3, shapes, spread=1.0)
    grids[0][5, 5] = 400  # far beyond SYMBOL_RADIUS: escape codes
    grids[1][2, 3] = -3 * SYMBOL_RADIUS
    arm = random_arm(4)
    coded, escapes = encode_latents(grids, arm)
    assert len(escapes) > 0
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))
    actual_bits = 8 * (len(coded) + len(escapes))
    estimate = latent_bits(grids, arm)
    assert estimate <= actual_bits <= estimate * 1.02 + 96


def test_wavefronts_respect_the_causal_context():
    h, w = 9, 13
    fronts = wavefronts(h, w)
    rank = np.empty(h * w, dtype=int)
    for i in range(len(fronts.bounds) - 1):
        rank[fronts.order[fronts.bounds[i] : fronts.bounds[i + 1]]] = i
    for y in range(h):
        for x in range(w):
            assert rank[y * w + x] == x + ARM_WAVEFRONT_SLOPE * y
            for dy, dx in ARM_CONTEXT:
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    assert rank[(y + dy) * w + x + dx] < rank[y * w + x]
