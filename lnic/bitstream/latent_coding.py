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
from functools import lru_cache

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
    ARM_ACT_CLAMP,
    ARM_ACT_FRAC_BITS,
    ARM_CONTEXT,
    ARM_WAVEFRONT_SLOPE,
    ESCAPE_BITS_MAX,
    LATENT_CLAMP,
    LOG_SCALE_MIN,
    LOG_SCALE_STEP_BITS,
    MU_FRAC_BITS,
    N_SCALES,
    SYMBOL_RADIUS,
)
from lnic.bitstream.prob_table import bits_table, probability_table
from lnic.errors import BitstreamError
from lnic.model.arm import arm_integer, gather_context
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
    ctx = gather_context([g.astype(np.float64) for g in grids])
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
    """Inverse of :func:`encode_latents`: integer grids (float64 arrays), finest first.

    Every failure (range decoder error, escape section too short, latent out of range) raises
    :class:`BitstreamError`.
    """
    if len(coded) % 4:
        raise BitstreamError("latent section is not a whole number of 32-bit words")
    n_latents = sum(h * w for h, w in shapes)
    if 8 * len(coded) < n_latents * min_symbol_bits() / 2 - 64:
        # Even a perfectly predicted latent costs min_symbol_bits(): a crafted tiny file that
        # declares a huge image is refused here instead of being decoded at length.
        raise BitstreamError(
            f"latent section of {len(coded)} bytes is too short for {n_latents} latents"
        )
    words = np.frombuffer(coded, dtype="<u4").astype(np.uint32)
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
    except Exception as exc:  # constriction rejects some malformed inputs up front
        raise BitstreamError(f"corrupt latent section ({exc})") from exc
    plan = ArmPlan(arm)
    ctx = _GridContext(decoder, BitReader(escapes), plan, table_rows(), _model())
    grids: list[np.ndarray | None] = [None] * len(shapes)
    for k in range(len(shapes) - 1, -1, -1):
        coarser = grids[k + 1] if k + 1 < len(shapes) else None
        grids[k] = _decode_grid(ctx, shapes[k], coarser)
    # Out-of-range latents are detected once at the end: decoding after such a value goes on
    # with bounded (if meaningless) numbers and the file is refused all the same.
    if any(np.abs(g).max(initial=0) > LATENT_CLAMP for g in grids):  # type: ignore[arg-type]
        raise BitstreamError("decoded latent out of range (corrupt bitstream)")
    return grids  # type: ignore[return-value]


# --- Fast decoding ------------------------------------------------------------------------------
#
# The decoder evaluates the integer ARM once per wavefront (~4,600 wavefronts for a 768x512
# image), so the number of numpy calls per wavefront is what costs time. Three devices keep it low:
#
# * Storage by wavefront: a grid is held in a zero-padded buffer indexed ``(t, y)`` with
#   ``t = x + 3 y``. The latents of one wavefront are then contiguous, and the 15 cells of the
#   3x5 window above-left of them (rows dy = -2..0, columns dx = -2..2) are 15 contiguous runs
#   at fixed offsets: one strided copy gathers the whole context. The window's 3 cells that are
#   not context (dx = 0, 1, 2 on row dy = 0) are still undecoded and get zero weights; the
#   current cell holds the co-located coarser latent until it is decoded, which gives the 13th
#   ARM input for free.
# * Folded fixed point: every layer ``floor((x . W + b') / 2^e)`` is computed as
#   ``floor(x . (W / 2^e) + b'')`` with the power-of-two scale and the rounding offset folded
#   into the weights and a constant-one input (exact: scaling by a power of two commutes with
#   float64 rounding, and every value stays an integer multiple of 2^-e far below 2^53). The
#   output layer directly produces ``mu_q - 384``, ``m_int - 24`` and ``scale_idx``
#   (``floor(floor(a) / n) = floor(a / n)``; clamps commute with these monotone maps), so
#   the table row is one dot product and the latent one addition.
# * Table rows: the probability table is reshaped to ``[scale * 16 + frac, symbol]``.


class ArmPlan:
    """The integer ARM folded into float64 matrices acting on the wavefront context.

    ``hidden[i]`` are ``[out + 1, in + 1]`` matrices (the extra row/column carries the constant
    one that applies the biases); ``out`` is ``[3, in + 1]``. The first layer's columns follow the
    context layout ``window (15) | one``.
    """

    def __init__(self, arm: list[QuantizedLinear]) -> None:
        frac = ARM_ACT_FRAC_BITS
        self.layers: list[np.ndarray] = []
        n_in = _WINDOW + 1
        for i, layer in enumerate(arm):
            w = np.asarray(layer.weight, dtype=np.float64)
            b = np.asarray(layer.bias, dtype=np.float64)
            e_w, e_b = int(layer.e_w), int(layer.e_b)
            scale = 2.0**-e_w
            # acc / 2^e_w with acc = x . W + b * 2^(frac + e_w - e_b), then + 1/2 (rounding)
            bias = b * 2.0 ** (frac - e_b)
            if i == 0:
                wcols = np.zeros((w.shape[0], _WINDOW))
                for j, col in enumerate(_CONTEXT_COLUMNS):
                    wcols[:, col] += w[:, j] * 2.0**frac
                wcols[:, _CENTRE] += w[:, len(ARM_CONTEXT)] * 2.0**frac  # coarser latent
                w = wcols
            if i < len(arm) - 1:
                m = np.zeros((w.shape[0] + 1, n_in))
                m[:-1, :-1] = w * scale
                m[:-1, -1] = bias + 0.5
                m[-1, -1] = 1.0  # the constant one, passed on to the next layer
                self.layers.append(m)
                n_in = m.shape[0]
            else:
                self.layers.append(_output_matrix(w * scale, bias + 0.5))
        self.lo = _OUT_LO[:, None]
        self.hi = _OUT_HI[:, None]


def _output_matrix(w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Rows producing ``mu_q - R*16``, ``m_int - R`` and ``scale_idx`` from the last hidden layer.

    With ``a`` the rounded layer output before its floor (``w`` and ``bias`` already include the
    ``2^-e`` scale and the ``+1/2``), ``x = floor(a)`` and the spec's ``mu_q = floor((x + 2^(s-1))
    / 2^s)`` equals ``floor(a / 2^s + 1/2)``; likewise for ``m_int`` and ``scale_idx``.
    """
    s_mu = ARM_ACT_FRAC_BITS - MU_FRAC_BITS
    s_sc = ARM_ACT_FRAC_BITS - LOG_SCALE_STEP_BITS
    s_min = LOG_SCALE_MIN * 2.0**ARM_ACT_FRAC_BITS  # an integer (checked at import)
    out = np.zeros((3, w.shape[1] + 1))
    # mu_q - R * 16 = floor((a + 2^(s_mu - 1)) / 2^s_mu) - R * 16
    out[0, :-1] = w[0] * 2.0**-s_mu
    out[0, -1] = (bias[0] + 2.0 ** (s_mu - 1)) * 2.0**-s_mu - _MU_OFFSET
    # m_int - R = floor((a + 2^(s_mu - 1)) / 2^(s_mu + MU_FRAC_BITS)) - R
    out[1, :-1] = w[0] * 2.0 ** -(s_mu + MU_FRAC_BITS)
    out[1, -1] = (bias[0] + 2.0 ** (s_mu - 1)) * 2.0 ** -(s_mu + MU_FRAC_BITS) - SYMBOL_RADIUS
    # scale_idx = floor((a - s_min + 2^(s_sc - 1)) / 2^s_sc)
    out[2, :-1] = w[1] * 2.0**-s_sc
    out[2, -1] = (bias[1] - s_min + 2.0 ** (s_sc - 1)) * 2.0**-s_sc
    return out


_WINDOW = 15  # 3 rows (dy = -2, -1, 0) x 5 columns (dx = -2 .. 2)
_CENTRE = 2 * 5 + 2  # (dy, dx) = (0, 0): the current latent, holding the coarser latent
_CONTEXT_COLUMNS = [(dy + 2) * 5 + dx + 2 for dy, dx in ARM_CONTEXT]
_T_FRONT = 8  # context reaches back 8 wavefronts ((dy, dx) = (-2, -2))
_T_BACK = 3  # the window reaches 2 wavefronts ahead (dx = 1, 2 on row 0)
_Y_PAD = 2
_MU_OFFSET = SYMBOL_RADIUS << MU_FRAC_BITS
_MU_Q_MAX = ((ARM_ACT_CLAMP + (1 << (ARM_ACT_FRAC_BITS - MU_FRAC_BITS - 1)))
             >> (ARM_ACT_FRAC_BITS - MU_FRAC_BITS))
_MU_Q_MIN = ((-ARM_ACT_CLAMP + (1 << (ARM_ACT_FRAC_BITS - MU_FRAC_BITS - 1)))
             >> (ARM_ACT_FRAC_BITS - MU_FRAC_BITS))
_OUT_LO = np.array([_MU_Q_MIN - _MU_OFFSET, (_MU_Q_MIN >> MU_FRAC_BITS) - SYMBOL_RADIUS, 0.0])
_OUT_HI = np.array([_MU_Q_MAX - _MU_OFFSET, (_MU_Q_MAX >> MU_FRAC_BITS) - SYMBOL_RADIUS,
                    N_SCALES - 1.0])
# row of table_rows() = scale_idx * 16 + (mu_q & 15) = out0 - 16 out1 + 16 out2
_ROW = np.array([1.0, -float(1 << MU_FRAC_BITS), float(1 << MU_FRAC_BITS)])
assert float(LOG_SCALE_MIN * 2.0**ARM_ACT_FRAC_BITS).is_integer()
assert all(-2 <= dy <= 0 and -2 <= dx <= 2 and (dy < 0 or dx < 0) for dy, dx in ARM_CONTEXT)
assert ARM_WAVEFRONT_SLOPE == 3


@lru_cache(maxsize=1)
def min_symbol_bits() -> float:
    """Fewest bits any symbol can cost: -log2 of the table's largest probability."""
    return float(-np.log2(probability_table().max()))


@lru_cache(maxsize=1)
def table_rows() -> np.ndarray:
    """The probability table as ``[N_SCALES * 16, N_SYMBOLS]``, row ``scale_idx * 16 + frac``."""
    t = probability_table()
    return np.ascontiguousarray(t.transpose(1, 0, 2).reshape(-1, t.shape[-1]))


def arm_rows(plan: ArmPlan, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table rows and ``m_int`` for ``context`` [N, N_CONTEXT] (testing aid, same maths as
    the decoding loop). Returns int64 arrays."""
    n = context.shape[0]
    x = np.zeros((_WINDOW + 1, n))
    for j, col in enumerate(_CONTEXT_COLUMNS):
        x[col] = context[:, j]
    x[_CENTRE] = context[:, len(ARM_CONTEXT)]
    x[-1] = 1.0
    for m in plan.layers[:-1]:
        x = m @ x
        np.floor(x, out=x)
        _clip(x, 0.0, float(ARM_ACT_CLAMP), out=x)
    o = plan.layers[-1] @ x
    np.floor(o, out=o)
    _clip(o, plan.lo, plan.hi, out=o)
    return (_ROW @ o).astype(np.int64), (o[1] + SYMBOL_RADIUS).astype(np.int64)


_clip = np._core.umath.clip if hasattr(np, "_core") else np.core.umath.clip  # the bare ufunc


@dataclass
class _GridContext:
    """What every grid's decoding loop shares."""

    decoder: constriction.stream.queue.RangeDecoder
    escapes: BitReader
    plan: ArmPlan
    rows: np.ndarray
    model: constriction.stream.model.Categorical


MAX_LAYOUT_RATIO = 6
"""The wavefront-major buffer of an (h, w) grid holds about (w + 3 h) * h cells: grids for which
that exceeds this many times h * w (taller than about twice their width) use the raster layout,
which is slower (one gather per wavefront) but needs only h * w cells."""

LAYOUT_SLACK = 1 << 16
"""Cells the wavefront-major layout may always use (small grids never fall back)."""


def _decode_grid(c: _GridContext, shape: tuple[int, int], coarser: np.ndarray | None) -> np.ndarray:
    """Decode one grid, wavefront by wavefront; returns it as a float64 (h, w) array."""
    h, w = shape
    n_fronts = w + ARM_WAVEFRONT_SLOPE * (h - 1)
    if (n_fronts + _T_FRONT + _T_BACK) * (h + _Y_PAD) > MAX_LAYOUT_RATIO * h * w + LAYOUT_SLACK:
        return _decode_grid_raster(c, shape, coarser)
    hs = h + _Y_PAD  # one column of the buffer: y = -2 .. h-1
    buf = np.zeros((n_fronts + _T_FRONT + _T_BACK + 2) * hs + 2 * h + 16)
    # cell (t, y) lives at (t + _T_FRONT) * hs + y + _Y_PAD
    ys, xs = np.divmod(np.arange(h * w), w)
    cells = (xs + ARM_WAVEFRONT_SLOPE * ys + _T_FRONT) * hs + ys + _Y_PAD
    if coarser is not None:
        buf[cells] = coarser[ys // 2, xs // 2]
    # the window of a wavefront whose first latent is (t, y0) starts at cell (t - 8, y0 - 2),
    # i.e. at t * hs + y0; window cell (dy, dx) of latent i is at + (dy+2)(3 hs+1) + (dx+2) hs + i
    s = buf.strides[0]
    windows = np.lib.stride_tricks.as_strided(
        buf, shape=(n_fronts * hs, 3, 5, h), strides=(s, (3 * hs + 1) * s, hs * s, s),
        writeable=False,
    )
    steps = []
    for t in range(n_fronts):
        y0 = max(0, -((w - 1 - t) // ARM_WAVEFRONT_SLOPE))
        n = min(h - 1, t // ARM_WAVEFRONT_SLOPE) - y0 + 1
        if n > 0:  # grids narrower than 3 have empty wavefronts
            steps.append((t * hs + y0, n, (t + _T_FRONT) * hs + y0 + _Y_PAD))

    plan = c.plan
    hidden_layers, out_layer, lo, hi = plan.layers[:-1], plan.layers[-1], plan.lo, plan.hi
    ctx = np.empty((_WINDOW + 1, h))
    ctx[-1] = 1.0
    ctx_window = ctx[:-1].reshape(3, 5, h)
    scratch = [np.empty(m.shape[0] * h) for m in hidden_layers]
    out_buf = np.empty(3 * h)
    views: dict[int, tuple] = {}

    def views_for(n: int) -> tuple:
        hidden = [sc[: m.shape[0] * n].reshape(m.shape[0], n)
                  for m, sc in zip(hidden_layers, scratch)]
        o = out_buf[: 3 * n].reshape(3, n)
        v = (ctx_window[:, :, :n], windows[:, :, :, :n], ctx[:, :n], hidden, o, o[1])
        views[n] = v
        return v

    decode, model, rows, escapes = c.decoder.decode, c.model, c.rows, c.escapes
    dot, floor, clip, copyto, add = np.dot, np.floor, _clip, np.copyto, np.add
    bincount, intp, row_vec = np.bincount, np.intp, _ROW
    clamp, esc_hi = float(ARM_ACT_CLAMP), 2 * SYMBOL_RADIUS
    two = len(hidden_layers) == 2  # the usual architecture: unrolled below
    m_a, m_b = (hidden_layers * 2)[:2]
    for anchor, n, start in steps:
        cw, win, x, hidden, o, o1 = views.get(n) or views_for(n)
        copyto(cw, win[anchor])
        if two:
            y = hidden[0]
            dot(m_a, x, out=y)
            floor(y, out=y)
            clip(y, 0.0, clamp, out=y)
            x = hidden[1]
            dot(m_b, y, out=x)
            floor(x, out=x)
            clip(x, 0.0, clamp, out=x)
        else:
            for m, y in zip(hidden_layers, hidden):
                dot(m, x, out=y)
                floor(y, out=y)
                clip(y, 0.0, clamp, out=y)
                x = y
        dot(out_layer, x, out=o)
        floor(o, out=o)
        clip(o, lo, hi, out=o)
        try:
            sym = decode(model, rows.take(dot(row_vec, o).astype(intp), axis=0))
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        counts = bincount(sym, minlength=esc_hi + 1)  # one call finds both escape symbols
        if counts[0] or counts[esc_hi]:
            values = sym + o1
            for j in np.flatnonzero((sym == 0) | (sym == esc_hi)):
                extra = read_exp_golomb(escapes, 0, max_prefix=ESCAPE_BITS_MAX)
                values[j] += extra if sym[j] else -extra
            buf[start : start + n] = values
        else:
            add(sym, o1, out=buf[start : start + n])
    return buf[cells].reshape(h, w)


def _decode_grid_raster(
    c: _GridContext, shape: tuple[int, int], coarser: np.ndarray | None
) -> np.ndarray:
    """Same result as :func:`_decode_grid` with a raster buffer (for tall, narrow grids)."""
    h, w = shape
    pw = w + 4  # columns -2 .. w+1
    buf = np.zeros((h + 2) * pw + 8)  # rows -2 .. h-1, plus room for the window's right end
    ys, xs = np.divmod(np.arange(h * w), w)
    if coarser is not None:
        buf[(ys + 2) * pw + xs + 2] = coarser[ys // 2, xs // 2]
    fronts = wavefronts(h, w)
    oy, ox = np.divmod(fronts.order, w)
    base = (oy + 2) * pw + ox + 2  # cells in decoding order
    offsets = np.array([dy * pw + dx for dy in (-2, -1, 0) for dx in (-2, -1, 0, 1, 2)])
    plan = c.plan
    ctx = np.empty((_WINDOW + 1, h + w))
    ctx[-1] = 1.0
    clamp, esc_hi = float(ARM_ACT_CLAMP), 2 * SYMBOL_RADIUS
    for i in range(len(fronts.bounds) - 1):
        cells = base[fronts.bounds[i] : fronts.bounds[i + 1]]
        n = len(cells)
        if n == 0:
            continue
        x = ctx[:, :n]
        x[:-1] = buf[offsets[:, None] + cells[None, :]]
        for m in plan.layers[:-1]:
            x = m @ x
            np.floor(x, out=x)
            _clip(x, 0.0, clamp, out=x)
        o = plan.layers[-1] @ x
        np.floor(o, out=o)
        _clip(o, plan.lo, plan.hi, out=o)
        try:
            sym = c.decoder.decode(c.model, c.rows.take((_ROW @ o).astype(np.intp), axis=0))
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        values = sym + o[1]
        for j in np.flatnonzero((sym == 0) | (sym == esc_hi)):
            extra = read_exp_golomb(c.escapes, 0, max_prefix=ESCAPE_BITS_MAX)
            values[j] += extra if sym[j] else -extra
        buf[cells] = values
    return buf[(ys + 2) * pw + xs + 2].reshape(h, w)
