import numpy as np
import pytest
from helpers import random_arm, random_grids

from lnic.bitstream.format import ARM_CONTEXT, ARM_WAVEFRONT_SLOPE, GRID_LAG, SYMBOL_RADIUS
from lnic.bitstream.latent_coding import (
    coding_order,
    decode_latents,
    encode_latents,
    latent_bits,
    num_steps,
)
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


@pytest.mark.parametrize("size", [(9, 13), (20, 7), (5, 40)])
def test_coding_order_respects_the_context(size):
    """Every latent comes after its causal neighbours and its co-located coarser latent, in a
    strictly earlier step; a step codes its grids coarsest first, each by increasing y."""
    shapes = grid_shapes(*size, num_levels(*size))
    levels = len(shapes)
    order, step = coding_order(shapes)
    assert sorted(order.tolist()) == list(range(sum(h * w for h, w in shapes)))
    assert np.all(np.diff(step) >= 0) and step[-1] == num_steps(shapes) - 1
    offsets = np.cumsum([0] + [h * w for h, w in shapes])
    where = {}  # (k, y, x) -> (step, rank in the coding order)
    for rank, (i, st) in enumerate(zip(order.tolist(), step.tolist())):
        k = int(np.searchsorted(offsets, i, side="right")) - 1
        y, x = divmod(i - int(offsets[k]), shapes[k][1])
        assert st == x + ARM_WAVEFRONT_SLOPE * y + GRID_LAG * (levels - 1 - k)
        where[k, y, x] = (st, rank)
    for (k, y, x), (st, rank) in where.items():
        h, w = shapes[k]
        for dy, dx in ARM_CONTEXT:
            if 0 <= y + dy < h and 0 <= x + dx < w:
                assert where[k, y + dy, x + dx][0] < st
        if k + 1 < levels:
            assert where[k + 1, y // 2, x // 2][0] < st
        if y + 1 < h and x - ARM_WAVEFRONT_SLOPE >= 0:  # same wavefront, next y: coded later
            assert where[k, y + 1, x - ARM_WAVEFRONT_SLOPE][1] > rank
        if k > 0 and (k - 1, y, x) in where and where[k - 1, y, x][0] == st:
            assert where[k - 1, y, x][1] > rank  # finer grid after coarser in a step


def test_steps_are_fewer_than_wavefronts_summed_over_grids():
    """The interleaved schedule: about W + 2 H steps for the whole pyramid."""
    shapes = grid_shapes(512, 768, num_levels(512, 768))
    assert num_steps(shapes) == 768 + ARM_WAVEFRONT_SLOPE * 511 + GRID_LAG * (len(shapes) - 1)
