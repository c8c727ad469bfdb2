import numpy as np
import pytest
from helpers import random_arm

from lnic.bitstream.weights import decode_weights, encode_weights, module_bits
from lnic.model.architecture import Architecture
from lnic.model.parts import MODULE_NAMES, DecoderParts
from lnic.model.quantized import QuantizedLinear


def test_weight_coding_round_trip_matches_architecture_shapes():
    arch = Architecture(levels=5, arm_hidden=8, synth_hidden=12)
    rng = np.random.default_rng(0)
    shapes = arch.weight_shapes().modules()
    assert tuple(shapes) == MODULE_NAMES
    weights = DecoderParts.from_modules(
        **{
            name: [
                QuantizedLinear(
                    rng.integers(-900, 900, s.weight), rng.integers(-9, 9, s.bias), 6 + i, 9 + i
                )
                for s in layer_shapes
            ]
            for i, (name, layer_shapes) in enumerate(shapes.items())
        }
    )
    data = encode_weights(weights)
    bits = sum(module_bits(m) for m in weights.modules().values())
    assert 8 * len(data) - 7 <= bits <= 8 * len(data)
    decoded = decode_weights(data, arch.weight_shapes())
    assert decoded.upsampling.pre.weight.shape == (5, 4)
    assert decoded.synthesis.conv_b.weight.shape == (3, 27)
    for m, d in zip(weights.modules().values(), decoded.modules().values()):
        assert len(m) == len(d)
        for a, b in zip(m, d):
            assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
            assert (a.e_w, a.e_b) == (b.e_w, b.e_b)


def test_smaller_weights_cost_fewer_bits():
    big = random_arm(0)
    small = [QuantizedLinear(layer.weight // 8, layer.bias // 8, 5, 5) for layer in big]
    assert module_bits(small) < module_bits(big)


def test_replacing_a_module_keeps_the_others():
    shapes = Architecture(levels=3).weight_shapes()
    swapped = [shapes.upsampling.pre, shapes.upsampling.up]
    other = shapes.with_module("upsampling", swapped)
    assert other.upsampling.layers() == swapped
    assert other.arm == shapes.arm and other.synthesis == shapes.synthesis
    with pytest.raises(KeyError):
        shapes.with_module("entropy", [])
