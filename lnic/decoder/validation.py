"""Checks that bound what a file can make the decoder do, before it does it: the declared size
against the caller's pixel limit, the sections' sizes against the declared size, and the decoded
weights against the ranges the format allows (docs/format.md, "Decoder limits")."""

from __future__ import annotations

import numpy as np

from lnic.bitstream.container import Sections
from lnic.bitstream.header import Header
from lnic.bitstream.latent_coding.decode import check_coded_length
from lnic.errors import BitstreamError
from lnic.format import (
    ARM_ACT_FRAC_BITS,
    ARM_WEIGHT_CLAMP,
    MAX_PIXELS,
    SYNTH_FRAC_BITS,
    WEIGHT_STEP_EXP_MAX,
    WEIGHT_STEP_EXP_MIN,
)
from lnic.model.latents import grid_shapes
from lnic.model.parts import DecoderWeights

DEFAULT_MAX_PIXELS = 1 << 24
"""Largest image (width x height) :func:`lnic.decoder.decode_bytes` decodes unless told
otherwise: 16,777,216 pixels, e.g. 4096 x 4096 or 4K UHD (8.3 M) with room to spare. Decoding
that many pixels takes about 1.3 GiB and tens of seconds on one core
(``benchmarks/decoder_limits.md``); the format itself allows up to ``MAX_PIXELS`` (40 M)."""


def check_size(header: Header, max_pixels: int | None) -> None:
    """Refuse an image larger than ``max_pixels`` (None: the format's limit)."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    pixels = header.width * header.height
    if pixels > limit:
        raise BitstreamError(
            f"image of {header.width}x{header.height} = {pixels} pixels exceeds the decoder's"
            f" limit of {limit} pixels (max_pixels)"
        )


def check_sections(sections: Sections) -> None:
    """Refuse a file whose latent section is too short for the latents its header declares: a
    range coder cannot code ``n`` latents in fewer bits than ``n`` times the cost of the
    table's likeliest symbol, so a small file cannot make the decoder work through a large
    image."""
    h = sections.header
    n_latents = sum(a * b for a, b in grid_shapes(h.height, h.width, h.arch.levels))
    check_coded_length(len(sections.latents), n_latents, h.prob_bits)


_BIAS_FRAC_BITS: dict[str, int | None] = {
    "arm": ARM_ACT_FRAC_BITS,
    "upsampling": None,  # the filter taps have no bias
    "synthesis": SYNTH_FRAC_BITS,
}
"""Fractional bits of each module's activations, which bound its bias step exponent."""


def validate_modules(weights: DecoderWeights) -> None:
    """Refuse weights outside the ranges the encoder can write.

    These ranges keep every accumulator of the integer decoder far below ``2^53``, which is what
    makes the float64 arithmetic exact; a crafted file outside them is refused rather than
    decoded inexactly.
    """
    for name, layers in weights.modules().items():
        frac = _BIAS_FRAC_BITS[name]
        label = "ARM" if name == "arm" else name
        e_w, e_b = layers[0].e_w, layers[0].e_b
        if not WEIGHT_STEP_EXP_MIN <= e_w <= WEIGHT_STEP_EXP_MAX:
            raise BitstreamError(f"{label} weight step 2^-{e_w} outside the format's range")
        if frac is not None and not 0 <= e_b <= frac + e_w:
            raise BitstreamError(f"{label} bias step 2^-{e_b} outside the format's range")
        for layer in layers:
            for v in (layer.weight, layer.bias):
                if v.size and np.abs(v).max() > ARM_WEIGHT_CLAMP:
                    raise BitstreamError(f"{label} weight out of range (corrupt bitstream)")
