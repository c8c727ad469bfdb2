import numpy as np
from helpers import random_arm

from lnic.bitstream.weights import decode_modules, encode_modules, module_bits
from lnic.model.architecture import Architecture
from lnic.model.quantized import QuantizedLinear


def test_weight_coding_round_trip_matches_architecture_shapes():
    arch = Architecture(levels=5, arm_hidden=8, synth_hidden=12)
    rng = np.random.default_rng(0)
    modules = []
    for i, shapes in enumerate(arch.module_shapes()):
        modules.append(
            [
                QuantizedLinear(rng.integers(-900, 900, ws), rng.integers(-9, 9, bs), 6 + i, 9 + i)
                for ws, bs in shapes
            ]
        )
    data = encode_modules(modules)
    assert 8 * len(data) - 7 <= sum(module_bits(m) for m in modules) <= 8 * len(data)
    decoded = decode_modules(data, arch.module_shapes())
    for m, d in zip(modules, decoded):
        for a, b in zip(m, d):
            assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
            assert (a.e_w, a.e_b) == (b.e_w, b.e_b)


def test_smaller_weights_cost_fewer_bits():
    big = random_arm(0)
    small = [QuantizedLinear(layer.weight // 8, layer.bias // 8, 5, 5) for layer in big]
    assert module_bits(small) < module_bits(big)
