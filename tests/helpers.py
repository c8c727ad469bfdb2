"""Random quantized ARMs and latent grids for the coding tests, and a file's decoded parts."""

from __future__ import annotations

import numpy as np

from lnic.bitstream.container import unpack_file
from lnic.bitstream.latent_coding import decode_latents
from lnic.bitstream.weights import decode_weights
from lnic.model.arm import N_CONTEXT
from lnic.model.latents import grid_shapes
from lnic.model.parts import DecoderWeights
from lnic.model.quantized import QuantizedLinear


def decoded_parts(data: bytes) -> tuple[DecoderWeights, list[np.ndarray]]:
    """The quantized networks and the integer latent grids (finest first) of a whole file."""
    s = unpack_file(data)
    h = s.header
    weights = decode_weights(s.weights, h.arch.weight_shapes())
    shapes = grid_shapes(h.height, h.width, h.arch.levels)
    return weights, decode_latents(s.latents, s.escapes, shapes, weights.arm, h.prob_bits)


def random_arm(seed: int, hidden: int = 8, layers: int = 2, e_w: int = 8) -> list[QuantizedLinear]:
    rng = np.random.default_rng(seed)
    dims = [N_CONTEXT] + [hidden] * layers + [2]
    arm = []
    for a, b in zip(dims[:-1], dims[1:]):
        w = rng.integers(-60, 60, (b, a))
        arm.append(QuantizedLinear(w, rng.integers(-200, 200, b), e_w, e_w))
    return arm


def random_grids(seed: int, shapes, spread: float = 2.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.round(rng.laplace(0, spread, s)).astype(np.float64) for s in shapes]


DECODE_LOOPS = ["numpy", "compiled", "c"]
"""Every latent decoding loop (``LNIC_DECODE_LOOP``): numpy, numba's kernels, the C kernels."""


def skip_unless_loop(loop: str) -> None:
    """Skip the calling test when ``loop``'s kernels cannot be had here (no numba, no compiler)."""
    import pytest

    from lnic.bitstream import arm_kernels, c_kernels

    if loop == "compiled" and arm_kernels.load() is None:
        pytest.skip("numba is not installed")
    if loop == "c" and c_kernels.load() is None:
        pytest.skip("the C latent kernels cannot be built here (no C compiler)")
