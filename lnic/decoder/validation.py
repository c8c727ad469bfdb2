"""Checks of decoded weights against the ranges the format allows (docs/format.md)."""

from __future__ import annotations

import numpy as np

from lnic.errors import BitstreamError
from lnic.format import (
    ARM_ACT_FRAC_BITS,
    ARM_WEIGHT_CLAMP,
    SYNTH_FRAC_BITS,
    WEIGHT_STEP_EXP_MAX,
    WEIGHT_STEP_EXP_MIN,
)
from lnic.model.parts import DecoderWeights

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
