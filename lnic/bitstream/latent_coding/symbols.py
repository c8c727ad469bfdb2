"""The range coder's alphabet: residual <-> symbol mapping and the table as the coder sees it."""

from __future__ import annotations

from functools import cache

import constriction
import numpy as np

from lnic.bitstream.prob_table import N_SYMBOLS, probability_table
from lnic.format import (
    MU_FRAC_BITS,
    PROB_BITS,
    RANGE_CODER_PRECISION,
    SYMBOL_ORDER,
    SYMBOL_RADIUS,
)

ESCAPE_SYMBOL = 2 * SYMBOL_RADIUS - 1
"""Symbols >= this are escapes (residuals +R and -R)."""

if SYMBOL_ORDER != "zigzag":
    raise NotImplementedError(f"symbol order {SYMBOL_ORDER!r}")
SYMBOL_RESIDUAL = np.array([(s + 1) // 2 if s % 2 else -(s // 2) for s in range(N_SYMBOLS)])
"""Residual of each range-coder symbol: 0, +1, -1, +2, -2, ..., +R, -R."""

RESIDUAL_VALUE = SYMBOL_RESIDUAL.astype(np.float64)
""":data:`SYMBOL_RESIDUAL` as the float64 the decoder adds to the predicted means."""


def residual_symbols(resid: np.ndarray) -> np.ndarray:
    """Range-coder symbols of residuals already clipped to [-R, R] (inverse of SYMBOL_RESIDUAL)."""
    return np.where(resid > 0, 2 * resid - 1, -2 * resid)


def table_rows(mu_frac: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
    """Row of :func:`coder_table` for a latent of table mean ``mu_frac`` and scale ``scale_idx``."""
    return scale_idx * (1 << MU_FRAC_BITS) + mu_frac


def range_model() -> constriction.stream.model.Categorical:
    """The categorical model whose probabilities each coding call passes per symbol."""
    return constriction.stream.model.Categorical(perfect=False)


@cache
def coder_table(prob_bits: int = PROB_BITS) -> np.ndarray:
    """What the range coder is given: [N_SCALES * 16, N_SYMBOLS] float32, row ``scale * 16 + f``.

    Column ``s`` holds the table probability (an exact multiple of 2^-prob_bits, exact in
    float32) of the residual ``SYMBOL_RESIDUAL[s]``. float32 halves the bytes the decoder
    copies per latent, and the zigzag order lets constriction find the likeliest symbols first.
    """
    out = coder_rows(probability_table(prob_bits))
    out.setflags(write=False)
    return out


@cache
def coder_cdf(prob_bits: int = PROB_BITS) -> np.ndarray:
    """The integer cumulative distribution the range coder makes of each row of
    :func:`coder_table`: [rows, N_SYMBOLS + 1] uint32, row ``r``'s symbol ``s`` spanning
    ``cdf[r, s] .. cdf[r, s + 1]`` of ``2**RANGE_CODER_PRECISION`` (the quantization
    :data:`lnic.format.RANGE_CODER_PRECISION` describes, in float32 as the coder does it: running
    sums, one rounding per product, truncation). The decoder's C kernels decode with it."""
    table = coder_table(prob_bits)
    n_rows, n_sym = table.shape
    running = np.cumsum(table, axis=1, dtype=np.float32)  # sequential, as the coder's sums
    before = np.zeros((n_rows, n_sym), dtype=np.float32)
    before[:, 1:] = running[:, :-1]
    free = np.float32((1 << RANGE_CODER_PRECISION) - n_sym)
    scale = (free / running[:, -1:]).astype(np.float32)
    out = np.empty((n_rows, n_sym + 1), dtype=np.uint32)
    out[:, :n_sym] = (before * scale).astype(np.uint32) + np.arange(n_sym, dtype=np.uint32)
    out[:, n_sym] = 1 << RANGE_CODER_PRECISION
    out.setflags(write=False)
    return out


def coder_rows(probabilities: np.ndarray) -> np.ndarray:
    """A [16, N_SCALES, N_SYMBOLS] table of probabilities (columns residual -R .. R) laid out as
    :func:`coder_table`; a table of another precision (benchmarks/table_precision.py) too.

    Raises ``AssertionError`` unless every probability is exact in float32 (multiples of 2^-24).
    """
    rows = probabilities.transpose(1, 0, 2).reshape(-1, N_SYMBOLS)[
        :, SYMBOL_RESIDUAL + SYMBOL_RADIUS
    ]
    out = np.ascontiguousarray(rows, dtype=np.float32)
    if not np.array_equal(out.astype(np.float64), rows):
        raise AssertionError("table probabilities are not exact in float32")
    return out


@cache
def min_symbol_bits(prob_bits: int = PROB_BITS) -> float:
    """Fewest bits any symbol can cost: -log2 of the table's largest probability."""
    return float(-np.log2(probability_table(prob_bits).max()))


@cache
def symbol_costs(prob_bits: int = PROB_BITS) -> np.ndarray:
    """-log2 of :func:`coder_table`, flat: the information content of symbol ``s`` in row ``r``
    is at ``r * N_SYMBOLS + s``."""
    out = -np.log2(coder_table(prob_bits).astype(np.float64)).ravel()
    out.setflags(write=False)
    return out


@cache
def frequency_costs(prob_bits: int = PROB_BITS) -> np.ndarray:
    """-log2(f / 2^prob_bits) at index ``f`` (f = 1 .. 2^prob_bits; 0 at f = 0, which no table
    entry has): the information content of a symbol of table probability ``f / 2^prob_bits``."""
    f = np.arange((1 << prob_bits) + 1, dtype=np.float64)
    out = np.zeros_like(f)
    out[1:] = prob_bits - np.log2(f[1:])
    out.setflags(write=False)
    return out
