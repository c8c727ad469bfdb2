"""Quantized layers and their exact integer evaluation.

Integers are held in float64 arrays: every product and partial sum stays below 2**53, so BLAS
computes them exactly whatever its summation order, thread count or instruction set. That makes
the integer decoder bit-exact across machines while still using fast matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

clip_ufunc = np._core.umath.clip if hasattr(np, "_core") else np.core.umath.clip
"""``np.clip`` as the bare ufunc (same values, ``out=`` allowed): its Python wrapper costs more
than the clip itself on the small blocks of the integer decoder's inner loops."""


@dataclass
class QuantizedLinear:
    """An affine layer with integer weights and biases.

    ``weight`` is [out, fan_in] holding ``round(w * 2**e_w)``, ``bias`` is [out] holding
    ``round(b * 2**e_b)``; ``e_b <= frac + e_w`` so the bias aligns with the accumulator.
    """

    weight: np.ndarray
    bias: np.ndarray
    e_w: int
    e_b: int


def integer_linear(
    layer: QuantizedLinear, x: np.ndarray, frac: int, clamp: int, relu: bool
) -> np.ndarray:
    """y = round((x @ W.T + b) / 2**e_w), ReLU'd, clamped; x and y carry ``frac`` fractional bits.

    ``x`` is [N, fan_in] of integers (float64); so is the result [N, out].
    """
    acc = x @ layer.weight.T.astype(np.float64)
    # the bias and the rounding offset in one row added in place, then the scaling and floor in
    # place too: the same float64 operations as (acc + b + half) * 2**-e_w (exact: integers
    # below 2**53 and a power of two), without temporaries the size of the output
    acc += layer.bias.astype(np.float64) * 2.0 ** (frac + layer.e_w - layer.e_b) + 2.0 ** (
        layer.e_w - 1
    )
    acc *= 2.0**-layer.e_w
    y = np.floor(acc, out=acc)
    if relu:
        np.maximum(y, 0.0, out=y)
    return clip_ufunc(y, -clamp, clamp, out=y)
