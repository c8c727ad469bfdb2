"""Coding of the quantized network weights: per module, steps and exp-Golomb orders, then values.

A module (ARM, upsampling, synthesis, in that order: :data:`lnic.model.parts.MODULE_NAMES`) is
a list of :class:`QuantizedLinear` sharing one weight step ``2**-e_w`` and one bias step
``2**-e_b``. Its record is ``e_w`` (5 bits), ``e_b`` (5 bits), the exp-Golomb orders ``k_w`` and
``k_b`` (4 bits each), then every weight and every bias as a signed exp-Golomb code. Shapes are
not stored: they follow from the architecture (:meth:`Architecture.weight_shapes`).
"""

from __future__ import annotations

import numpy as np

from lnic.bitstream.bits import (
    BitReader,
    BitWriter,
    exp_golomb_length,
    read_exp_golomb,
    write_exp_golomb,
)
from lnic.errors import BitstreamError
from lnic.model.parts import DecoderParts, DecoderShapes, DecoderWeights, LayerShape
from lnic.model.quantized import QuantizedLinear

MAX_ORDER = 15
"""Largest exp-Golomb order (the 4-bit ``k_w`` and ``k_b`` fields)."""

MAX_ABS_VALUE = 1 << 24
"""Decoded values beyond this are refused while parsing (the decoder's validation then applies
the format's tighter range)."""

_HEADER_BITS = 5 + 5 + 4 + 4
"""``e_w``, ``e_b``, ``k_w``, ``k_b`` at the start of every module's record."""


def best_order(values: np.ndarray) -> tuple[int, int]:
    """(order, bits) of the exp-Golomb order that codes ``values`` in the fewest bits."""
    vals = [int(v) for v in values.ravel()]
    best = (0, sum(exp_golomb_length(v, 0) for v in vals))
    for k in range(1, MAX_ORDER + 1):
        bits = sum(exp_golomb_length(v, k) for v in vals)
        if bits < best[1]:
            best = (k, bits)
    return best


def module_bits(layers: list[QuantizedLinear]) -> int:
    """Exact size in bits of one module's record."""
    w = np.concatenate([layer.weight.ravel() for layer in layers])
    b = np.concatenate([layer.bias.ravel() for layer in layers])
    return _HEADER_BITS + best_order(w)[1] + best_order(b)[1]


def write_module(writer: BitWriter, layers: list[QuantizedLinear]) -> None:
    """Append one module's record."""
    e_w, e_b = layers[0].e_w, layers[0].e_b
    if any(layer.e_w != e_w or layer.e_b != e_b for layer in layers):
        raise ValueError("all layers of a module share their quantization steps")
    w = np.concatenate([layer.weight.ravel() for layer in layers]).astype(np.int64)
    b = np.concatenate([layer.bias.ravel() for layer in layers]).astype(np.int64)
    k_w, k_b = best_order(w)[0], best_order(b)[0]
    writer.write(e_w, 5)
    writer.write(e_b, 5)
    writer.write(k_w, 4)
    writer.write(k_b, 4)
    for v in w:
        write_exp_golomb(writer, int(v), k_w)
    for v in b:
        write_exp_golomb(writer, int(v), k_b)


def read_module(reader: BitReader, shapes: list[LayerShape]) -> list[QuantizedLinear]:
    """Read a module whose layers have the given shapes."""
    e_w, e_b, k_w, k_b = reader.read(5), reader.read(5), reader.read(4), reader.read(4)

    def values(n: int, k: int) -> np.ndarray:
        out = np.array([read_exp_golomb(reader, k) for _ in range(n)], dtype=np.int64)
        if n and np.abs(out).max() > MAX_ABS_VALUE:
            raise BitstreamError("network weight out of range")
        return out

    n_w = sum(int(np.prod(s.weight)) for s in shapes)
    n_b = sum(int(np.prod(s.bias)) for s in shapes)
    w, b = values(n_w, k_w), values(n_b, k_b)
    layers, iw, ib = [], 0, 0
    for s in shapes:
        nw, nb = int(np.prod(s.weight)), int(np.prod(s.bias))
        weight, bias = w[iw : iw + nw].reshape(s.weight), b[ib : ib + nb].reshape(s.bias)
        layers.append(QuantizedLinear(weight, bias, e_w, e_b))
        iw, ib = iw + nw, ib + nb
    return layers


def encode_weights(weights: DecoderWeights) -> bytes:
    """The weights section: every module's record, byte-aligned at the end."""
    writer = BitWriter()
    for layers in weights.modules().values():
        write_module(writer, layers)
    return writer.getvalue()


def decode_weights(data: bytes, shapes: DecoderShapes) -> DecoderWeights:
    """Parse the weights section of a decoder whose layers have ``shapes``.

    The section must hold exactly the records of these shapes and the zero bits that pad its
    last byte: a header whose architecture contradicts the section (another channel count, say)
    reads too many values or leaves some unread, and either is a :class:`BitstreamError`.
    """
    reader = BitReader(data, "network weights")
    modules = {name: read_module(reader, s) for name, s in shapes.modules().items()}
    reader.check_padding()
    return DecoderParts.from_modules(**modules)
