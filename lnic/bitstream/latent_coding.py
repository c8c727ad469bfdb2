"""Range coding of the latent pyramid, driven by the integer ARM and the fixed table.

Order: grids from coarsest to finest; inside a grid, anti-diagonal wavefronts ``t = x + 3*y``
(:data:`ARM_WAVEFRONT_SLOPE`), each wavefront by increasing ``y``. No latent depends on another of
its own wavefront, so the decoder evaluates the ARM on a whole wavefront at once.

A latent ``v`` with integer-ARM outputs ``mu_q`` (mean in 1/16) and ``s`` is coded as the symbol
``clip(v - (mu_q >> 4), -R, R)`` with table row ``(mu_q & 15, s)``. The end symbols +-R are
escapes: ``|v - (mu_q >> 4)| - R`` follows as an order-0 exp-Golomb code in a separate bit
section, so the range-coded section is one uninterrupted stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import constriction
import numpy as np

from lnic.bitstream.bits import (
    BitReader,
    BitWriter,
    exp_golomb_length,
    read_exp_golomb,
    write_exp_golomb,
)
from lnic.bitstream.format import (
    ARM_CONTEXT,
    ARM_WAVEFRONT_SLOPE,
    ESCAPE_BITS_MAX,
    LATENT_CLAMP,
    MU_FRAC_BITS,
    SYMBOL_RADIUS,
)
from lnic.bitstream.prob_table import bits_table, probability_table
from lnic.errors import BitstreamError
from lnic.model.arm import CONTEXT_PAD, arm_integer, coarser_colocated, gather_context_numpy
from lnic.model.quantized import QuantizedLinear

_CHUNK = 1 << 16
_MU_MASK = (1 << MU_FRAC_BITS) - 1


def _model() -> constriction.stream.model.Categorical:
    return constriction.stream.model.Categorical(perfect=False)


@dataclass
class Wavefronts:
    """Positions of one grid in decoding order, split into wavefronts."""

    order: np.ndarray  # flat indices (y * w + x) in decoding order
    bounds: np.ndarray  # wavefront i is order[bounds[i]:bounds[i + 1]]


def wavefronts(h: int, w: int) -> Wavefronts:
    y, x = np.divmod(np.arange(h * w), w)
    t = x + ARM_WAVEFRONT_SLOPE * y
    order = np.lexsort((y, t))
    counts = np.bincount(t, minlength=int(t.max()) + 1)
    return Wavefronts(order, np.concatenate([[0], np.cumsum(counts)]))


def _symbols(grids: list[np.ndarray], arm: list[QuantizedLinear]):
    """Per grid (finest first): symbols, table rows (f, s) and escape magnitudes, raster order."""
    ctx = gather_context_numpy([g.astype(np.float64) for g in grids])
    mu_q, scale_idx = arm_integer(arm, ctx)
    flat = np.concatenate([g.ravel() for g in grids]).astype(np.int64)
    resid = flat - (mu_q >> MU_FRAC_BITS)
    sym = np.clip(resid, -SYMBOL_RADIUS, SYMBOL_RADIUS) + SYMBOL_RADIUS
    escape = np.where(np.abs(resid) >= SYMBOL_RADIUS, np.abs(resid) - SYMBOL_RADIUS, -1)
    return sym, mu_q & _MU_MASK, scale_idx, escape


def latent_bits(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> float:
    """Ideal code length in bits of the latents (table probabilities + escape codes)."""
    sym, f, s, escape = _symbols(grids, arm)
    bits = float(bits_table()[f, s, sym].sum())
    return bits + sum(exp_golomb_length(int(e), 0) for e in escape[escape >= 0])


def encode_latents(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> tuple[bytes, bytes]:
    """Returns (range-coded section, escape section) for integer grids (finest first)."""
    if any(np.abs(g).max(initial=0) > LATENT_CLAMP for g in grids):
        raise ValueError("latents exceed LATENT_CLAMP")
    sym, f, s, escape = _symbols(grids, arm)
    offsets = np.cumsum([0] + [g.size for g in grids])
    order = np.concatenate(
        [offsets[k] + wavefronts(*grids[k].shape).order for k in range(len(grids) - 1, -1, -1)]
    )
    sym, f, s, escape = sym[order], f[order], s[order], escape[order]
    table = probability_table()
    encoder = constriction.stream.queue.RangeEncoder()
    model = _model()
    for i in range(0, len(sym), _CHUNK):
        sl = slice(i, i + _CHUNK)
        encoder.encode(sym[sl].astype(np.int32), model, table[f[sl], s[sl]])
    writer = BitWriter()
    for e in escape[escape >= 0]:
        write_exp_golomb(writer, int(e), 0)
    return encoder.get_compressed().astype("<u4").tobytes(), writer.getvalue()


def decode_latents(
    coded: bytes, escapes: bytes, shapes: list[tuple[int, int]], arm: list[QuantizedLinear]
) -> list[np.ndarray]:
    """Inverse of :func:`encode_latents`: integer grids (float64 arrays), finest first."""
    if len(coded) % 4:
        raise BitstreamError("latent section is not a whole number of 32-bit words")
    words = np.frombuffer(coded, dtype="<u4").astype(np.uint32)
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
    except Exception as exc:  # constriction rejects some malformed inputs up front
        raise BitstreamError(f"corrupt latent section ({exc})") from exc
    escape_reader = BitReader(escapes)
    table = probability_table()
    model = _model()
    grids: list[np.ndarray | None] = [None] * len(shapes)
    for k in range(len(shapes) - 1, -1, -1):
        coarser = grids[k + 1] if k + 1 < len(shapes) else None
        grids[k] = _decode_grid(decoder, escape_reader, shapes[k], coarser, arm, table, model)
    return grids  # type: ignore[return-value]


def _decode_grid(decoder, escape_reader, shape, coarser, arm, table, model) -> np.ndarray:
    h, w = shape
    pw = w + 2 * CONTEXT_PAD
    padded = np.zeros((h + CONTEXT_PAD) * pw, dtype=np.float64)
    offs = np.array([dy * pw + dx for dy, dx in ARM_CONTEXT], dtype=np.int64)
    inter = (
        coarser_colocated(coarser, shape).ravel() if coarser is not None else np.zeros(h * w)
    )
    fronts = wavefronts(h, w)
    ys, xs = np.divmod(fronts.order, w)
    base = (ys + CONTEXT_PAD) * pw + xs + CONTEXT_PAD
    for i in range(len(fronts.bounds) - 1):
        sl = slice(fronts.bounds[i], fronts.bounds[i + 1])
        b = base[sl]
        ctx = np.empty((len(b), len(offs) + 1))
        ctx[:, :-1] = padded[b[:, None] + offs[None, :]]
        ctx[:, -1] = inter[fronts.order[sl]]
        mu_q, s = arm_integer(arm, ctx)
        try:
            sym = decoder.decode(model, table[mu_q & _MU_MASK, s])
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        resid = sym.astype(np.int64) - SYMBOL_RADIUS
        for j in np.flatnonzero(np.abs(resid) >= SYMBOL_RADIUS):
            extra = read_exp_golomb(escape_reader, 0, max_prefix=ESCAPE_BITS_MAX)
            resid[j] += extra if resid[j] > 0 else -extra
        values = (mu_q >> MU_FRAC_BITS) + resid
        if np.abs(values).max(initial=0) > LATENT_CLAMP:
            raise BitstreamError("decoded latent out of range (corrupt bitstream)")
        padded[b] = values
    return padded.reshape(h + CONTEXT_PAD, pw)[CONTEXT_PAD:, CONTEXT_PAD : CONTEXT_PAD + w].copy()
