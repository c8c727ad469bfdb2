"""The compiled (numba) latent-decoding loop and the numpy loop decode the same latents."""

import numpy as np
import pytest
from helpers import random_arm, random_grids

from lnic.bitstream import arm_kernels
from lnic.bitstream.latent_coding import decode_latents, encode_latents
from lnic.bitstream.latent_coding.buffers import RasterGrid, WaveGrid, make_grids
from lnic.format import SYMBOL_RADIUS
from lnic.model.latents import grid_shapes, num_levels

LOOPS = ["numpy", "compiled"]


@pytest.fixture(params=LOOPS)
def loop(request, monkeypatch):
    """Every decode in the test runs with this loop."""
    if request.param == "compiled" and arm_kernels.load() is None:
        pytest.skip("numba is not installed")
    monkeypatch.setenv("LNIC_DECODE_LOOP", request.param)
    return request.param


def test_numba_kernels_load_when_installed():
    """numba is a dependency: the decoder's choice between the loops needs it."""
    assert arm_kernels.load() is not None


@pytest.mark.parametrize("size", [(16, 16), (37, 53), (64, 48), (300, 16), (2000, 16)])
@pytest.mark.usefixtures("loop")
def test_both_loops_round_trip(size):
    """Includes tall, narrow images whose finest grids use the raster layout (300x16: mixed
    steps; 2000x16: raster only)."""
    shapes = grid_shapes(*size, num_levels(*size))
    grids = random_grids(4, shapes, spread=2.0)
    grids[0][3, 5] = 5 * SYMBOL_RADIUS  # an escape code
    grids[-1][0, 0] = -2 * SYMBOL_RADIUS
    arm = random_arm(5)
    coded, escapes = encode_latents(grids, arm)
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))


def test_raster_layout_is_exercised():
    grids = make_grids(grid_shapes(300, 16, num_levels(300, 16)))
    assert isinstance(grids[0], RasterGrid) and isinstance(grids[-1], WaveGrid)


@pytest.mark.usefixtures("loop")
def test_both_loops_agree_on_corrupt_streams():
    """A damaged stream gives BitstreamError or some latents, never another exception."""
    from lnic.errors import BitstreamError

    shapes = grid_shapes(40, 56, 4)
    grids = random_grids(6, shapes, spread=3.0)
    arm = random_arm(7)
    coded, escapes = encode_latents(grids, arm)
    rng = np.random.default_rng(0)
    for _ in range(20):
        damaged = bytearray(coded)
        damaged[rng.integers(len(damaged))] ^= 1 << int(rng.integers(8))
        try:
            decode_latents(bytes(damaged), escapes, shapes, arm)
        except BitstreamError:
            pass


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.usefixtures("loop")
def test_both_loops_other_arm_depths(layers):
    shapes = grid_shapes(37, 53, 4)
    grids = random_grids(8, shapes)
    arm = random_arm(9, layers=layers)
    coded, escapes = encode_latents(grids, arm)
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))


@pytest.mark.usefixtures("loop")
def test_both_loops_with_clamps():
    """A saturating ARM makes the decoder's second pass (with clamps) run, in either loop."""
    shapes = grid_shapes(20, 20, 2)
    arm = random_arm(1, hidden=16)
    arm[0].weight[:, 11] = 4000  # the left neighbour: 4096 saturates the first layer
    grids = random_grids(2, shapes, spread=1.0)
    grids[0][3, 3] = 4096
    coded, escapes = encode_latents(grids, arm)
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))
