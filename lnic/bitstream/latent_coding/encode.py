"""Encoding of the latents, and their ideal code length (what the encoder's quantizer weighs)."""

from __future__ import annotations

from typing import NamedTuple

import constriction
import numpy as np

from lnic.bitstream.bits import BitWriter, exp_golomb_length, write_exp_golomb
from lnic.bitstream.latent_coding.arm_batch import batch_arm
from lnic.bitstream.latent_coding.schedule import coding_order
from lnic.bitstream.latent_coding.symbols import (
    coder_table,
    range_model,
    residual_symbols,
    table_rows,
)
from lnic.bitstream.prob_table import bits_table
from lnic.format import ARM_CONTEXT, LATENT_CLAMP, MU_FRAC_BITS, SYMBOL_RADIUS
from lnic.model.arm import CONTEXT_PAD, N_CONTEXT, arm_integer, coarser_colocated, shifted
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


ARM_CHUNK = 1 << 16
"""About this many latents per ARM evaluation of :func:`latent_symbols`: its float64 context
and hidden activations take ~0.9 kB per latent, which on a 12 MP image would be 15 GB at once."""


def _band_context(grids: list[np.ndarray], k: int, y0: int, y1: int) -> np.ndarray:
    """ARM inputs of rows ``y0 .. y1 - 1`` of grid ``k`` (``y0`` even), raster order: the same
    rows as :func:`lnic.model.arm.gather_context` gives for them."""
    g = grids[k]
    p = CONTEXT_PAD
    top = max(0, y0 - p)  # rows above the band that its context reads, zeros above the grid
    padded = np.pad(g[top:y1], ((p - (y0 - top), 0), (p, p))).astype(np.float64)
    n, w = y1 - y0, g.shape[1]
    cols = [shifted(padded, dy, dx, n, w) for dy, dx in ARM_CONTEXT]
    if k + 1 < len(grids):
        coarser = grids[k + 1][y0 // 2 : (y1 + 1) // 2].astype(np.float64)
        cols.append(coarser_colocated(coarser, (n, w)))
    else:
        cols.append(np.zeros((n, w)))
    return np.stack(cols, -1).reshape(n * w, N_CONTEXT)


def latent_symbols(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> LatentSymbols:
    """Residuals, table rows and escape magnitudes of integer grids (finest first).

    The ARM runs on bands of rows of about :data:`ARM_CHUNK` latents (even row counts, so that a
    band's coarser rows start on a whole coarser row): memory is the output's, a few bytes
    per latent, whatever the image size.
    """
    flat = np.concatenate([g.ravel() for g in grids]).astype(np.int64)
    native = batch_arm(arm)
    run_arm = native if native is not None else (lambda context: arm_integer(arm, context))
    mu_q = np.empty(flat.size, dtype=np.int64)
    scale_idx = np.empty(flat.size, dtype=np.int64)
    at = 0
    for k, g in enumerate(grids):
        h, w = g.shape
        rows = max(2, ARM_CHUNK // max(w, 1) // 2 * 2)
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            n = (y1 - y0) * w
            mu_q[at : at + n], scale_idx[at : at + n] = run_arm(_band_context(grids, k, y0, y1))
            at += n
    resid = flat - (mu_q >> MU_FRAC_BITS)
    clipped = np.clip(resid, -SYMBOL_RADIUS, SYMBOL_RADIUS)
    escape = np.where(np.abs(resid) >= SYMBOL_RADIUS, np.abs(resid) - SYMBOL_RADIUS, -1)
    return LatentSymbols(clipped, mu_q & _MU_MASK, scale_idx, escape)


def latent_bits(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> float:
    """Ideal code length in bits of the latents (table probabilities + escape codes)."""
    sym = latent_symbols(grids, arm)
    bits = float(bits_table()[sym.mu_frac, sym.scale_idx, sym.residual + SYMBOL_RADIUS].sum())
    return bits + sum(exp_golomb_length(int(e), 0) for e in sym.escape[sym.escape >= 0])


def encode_latents(
    grids: list[np.ndarray], arm: list[QuantizedLinear], table: np.ndarray | None = None
) -> tuple[bytes, bytes]:
    """Returns (range-coded section, escape section) for integer grids (finest first).

    ``table`` replaces :func:`coder_table` (rows and columns as there): the bytes another
    probability table would give, for measurements only; files use the format's table.
    """
    if any(np.abs(g).max(initial=0) > LATENT_CLAMP for g in grids):
        raise ValueError("latents exceed LATENT_CLAMP")
    sym = latent_symbols(grids, arm)
    order = coding_order([g.shape for g in grids]).order
    symbols = residual_symbols(sym.residual[order]).astype(np.int32)
    rows = table_rows(sym.mu_frac, sym.scale_idx)[order]
    escape = sym.escape[order]
    table = coder_table() if table is None else table
    encoder = constriction.stream.queue.RangeEncoder()
    model = range_model()
    for i in range(0, len(symbols), CHUNK):
        sl = slice(i, i + CHUNK)
        encoder.encode(symbols[sl], model, table[rows[sl]])
    writer = BitWriter()
    for e in escape[escape >= 0]:
        write_exp_golomb(writer, int(e), 0)
    return encoder.get_compressed().astype("<u4").tobytes(), writer.getvalue()
