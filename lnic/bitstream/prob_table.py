"""The fixed probability table the range coder uses, computed bit-exactly on every machine.

Row ``(f, s)`` is a discretised Laplace of mean ``f / 16`` and scale ``exp(LOG_SCALE_MIN + s/8)``
over residuals ``-R..R`` (R = :data:`SYMBOL_RADIUS`); the two end symbols carry the whole tails
and act as escapes. Exponentials are evaluated with :mod:`decimal` (correctly rounded, platform
independent) and turned into integer frequencies summing to ``2**PROB_BITS``; floating-point
``exp`` could differ by one ulp between machines and desynchronise the decoder.
"""

from __future__ import annotations

import decimal
from functools import lru_cache

import numpy as np

from lnic.bitstream.format import (
    LOG_SCALE_MIN,
    LOG_SCALE_STEP_BITS,
    MU_FRAC_BITS,
    N_SCALES,
    PROB_BITS,
    SYMBOL_RADIUS,
)

N_SYMBOLS = 2 * SYMBOL_RADIUS + 1
N_MU_FRAC = 1 << MU_FRAC_BITS


def _laplace_row(ctx: decimal.Context, mean: decimal.Decimal, scale: decimal.Decimal) -> list[int]:
    """Integer frequencies of residuals -R..R (ends = tails), sum 2**PROB_BITS, each >= 1."""
    # CDF at the bin edges r + 1/2 for r = -R .. R-1.
    half = decimal.Decimal("0.5")
    cdf = []
    for r in range(-SYMBOL_RADIUS, SYMBOL_RADIUS):
        z = ctx.divide(decimal.Decimal(r) + half - mean, scale)
        if z < 0:
            cdf.append(half * ctx.exp(z))
        else:
            cdf.append(1 - half * ctx.exp(-z))
    probs = [cdf[0]] + [b - a for a, b in zip(cdf[:-1], cdf[1:])] + [1 - cdf[-1]]
    total = 1 << PROB_BITS
    budget = total - N_SYMBOLS  # every symbol gets 1 for free, the rest by probability
    freqs = [1 + int((p * budget).to_integral_value(rounding=decimal.ROUND_FLOOR)) for p in probs]
    freqs[int(np.argmax(freqs))] += total - sum(freqs)
    return freqs


@lru_cache(maxsize=1)
def frequency_table() -> np.ndarray:
    """[N_MU_FRAC, N_SCALES, N_SYMBOLS] int64 frequencies (each row sums to 2**PROB_BITS)."""
    ctx = decimal.Context(prec=28)
    table = np.zeros((N_MU_FRAC, N_SCALES, N_SYMBOLS), dtype=np.int64)
    with decimal.localcontext(ctx):
        _fill(ctx, table)
    return table


def _fill(ctx: decimal.Context, table: np.ndarray) -> None:
    for s in range(N_SCALES):
        log_scale = decimal.Decimal(LOG_SCALE_MIN) + decimal.Decimal(s) / (1 << LOG_SCALE_STEP_BITS)
        scale = ctx.exp(log_scale)
        for f in range(N_MU_FRAC):
            table[f, s] = _laplace_row(ctx, decimal.Decimal(f) / N_MU_FRAC, scale)


@lru_cache(maxsize=1)
def probability_table() -> np.ndarray:
    """The table as float64 probabilities (exact dyadic values) for the range coder."""
    return frequency_table().astype(np.float64) / float(1 << PROB_BITS)


@lru_cache(maxsize=1)
def bits_table() -> np.ndarray:
    """-log2 of every table probability: the exact ideal code length of each symbol."""
    return -np.log2(probability_table())
