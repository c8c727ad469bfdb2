"""Encoding of the latents, and their ideal code length (what the encoder's quantizer weighs)."""

from __future__ import annotations

from typing import NamedTuple

import constriction
import numpy as np

from lnic.bitstream.bits import BitWriter, exp_golomb_length, write_exp_golomb
from lnic.bitstream.latent_coding.schedule import coding_order
from lnic.bitstream.latent_coding.symbols import (
    coder_table,
    range_model,
    residual_symbols,
    table_rows,
)
from lnic.bitstream.prob_table import bits_table
from lnic.format import LATENT_CLAMP, MU_FRAC_BITS, SYMBOL_RADIUS
from lnic.model.arm import arm_integer, gather_context
from lnic.model.quantized import QuantizedLinear

CHUNK = 1 << 16
"""Symbols handed to the range encoder per call (bounds the temporary probability rows)."""

_MU_MASK = (1 << MU_FRAC_BITS) - 1


class LatentSymbols(NamedTuple):
    """What the coder writes for every latent (raster order, finest grid first)."""

    residual: np.ndarray
    """``latent - m_int`` clipped to [-R, R] (R = SYMBOL_RADIUS)."""
    mu_frac: np.ndarray
    """The table's mean column: ``mu_q & 15``."""
    scale_idx: np.ndarray
    """The table's scale row."""
    escape: np.ndarray
    """``|latent - m_int| - R`` where the residual is an escape, else -1."""


def latent_symbols(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> LatentSymbols:
    """Residuals, table rows and escape magnitudes of integer grids (finest first)."""
    ctx = gather_context([g.astype(np.float64) for g in grids])
    mu_q, scale_idx = arm_integer(arm, ctx)
    flat = np.concatenate([g.ravel() for g in grids]).astype(np.int64)
    resid = flat - (mu_q >> MU_FRAC_BITS)
    clipped = np.clip(resid, -SYMBOL_RADIUS, SYMBOL_RADIUS)
    escape = np.where(np.abs(resid) >= SYMBOL_RADIUS, np.abs(resid) - SYMBOL_RADIUS, -1)
    return LatentSymbols(clipped, mu_q & _MU_MASK, scale_idx, escape)


def latent_bits(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> float:
    """Ideal code length in bits of the latents (table probabilities + escape codes)."""
    sym = latent_symbols(grids, arm)
    bits = float(bits_table()[sym.mu_frac, sym.scale_idx, sym.residual + SYMBOL_RADIUS].sum())
    return bits + sum(exp_golomb_length(int(e), 0) for e in sym.escape[sym.escape >= 0])


def encode_latents(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> tuple[bytes, bytes]:
    """Returns (range-coded section, escape section) for integer grids (finest first)."""
    if any(np.abs(g).max(initial=0) > LATENT_CLAMP for g in grids):
        raise ValueError("latents exceed LATENT_CLAMP")
    sym = latent_symbols(grids, arm)
    order = coding_order([g.shape for g in grids]).order
    symbols = residual_symbols(sym.residual[order]).astype(np.int32)
    rows = table_rows(sym.mu_frac, sym.scale_idx)[order]
    escape = sym.escape[order]
    table = coder_table()
    encoder = constriction.stream.queue.RangeEncoder()
    model = range_model()
    for i in range(0, len(symbols), CHUNK):
        sl = slice(i, i + CHUNK)
        encoder.encode(symbols[sl], model, table[rows[sl]])
    writer = BitWriter()
    for e in escape[escape >= 0]:
        write_exp_golomb(writer, int(e), 0)
    return encoder.get_compressed().astype("<u4").tobytes(), writer.getvalue()
