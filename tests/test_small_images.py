"""Small images get a small decoder (:mod:`lnic.encoder.sizing`), chosen by pixel count."""

from __future__ import annotations

import numpy as np
import pytest

from lnic.model.architecture import Architecture


def test_architecture_shrinks_with_the_image_and_keeps_every_level():
    from lnic.encoder.sizing import SIZE_CLASSES, choose_architecture
    from lnic.model.latents import num_levels

    default = Architecture(levels=num_levels(512, 768))
    assert choose_architecture(512, 768) == default
    smallest = SIZE_CLASSES[0]
    tiny = choose_architecture(16, 24, channels=1)
    assert (tiny.arm_hidden, tiny.arm_layers, tiny.synth_hidden) == (
        smallest.arm_hidden,
        smallest.arm_layers,
        smallest.synth_hidden,
    )
    assert tiny.levels == num_levels(16, 24) and tiny.channels == 1
    sides = (16, 64, 128, 256, 512)
    params = [_parameters(choose_architecture(s, s)) for s in sides]
    assert params == sorted(params) and params[0] < params[-1] / 2


def _parameters(arch: Architecture) -> int:
    """Weights and biases of every layer (levels fixed, so only the widths count)."""
    shapes = Architecture(4, arch.arm_hidden, arch.arm_layers, arch.synth_hidden).weight_shapes()
    return sum(
        int(np.prod(s.weight)) + int(np.prod(s.bias))
        for layers in shapes.modules().values()
        for s in layers
    )


def test_a_small_image_is_coded_with_the_small_decoder(small_image):
    """A 16x24 crop, 30 steps: the header names the small decoder and its weights stay under
    150 bytes (the default decoder's take over 200 here), and the file decodes."""
    pytest.importorskip("torch")
    import lnic
    from lnic.bitstream.container import unpack_file
    from lnic.encoder.encode import encode_array
    from lnic.encoder.sizing import choose_architecture

    image = np.ascontiguousarray(small_image[:16, :24])
    result = encode_array(image, quality=4, preset="fast", steps=30, seed=0)
    header = unpack_file(result.bitstream).header
    assert header.arch == choose_architecture(16, 24)
    assert header.arch.arm_hidden < Architecture(1).arm_hidden
    assert result.section_bytes["weights"] < 150
    assert result.section_bytes["weights"] < 0.75 * len(result.bitstream)
    assert np.array_equal(np.asarray(lnic.decode(result.bitstream)), result.reconstruction)
