"""Range coding of the latent pyramid, driven by the integer ARM and the fixed table.

Order (format version 2): one global schedule of steps. Grid k (0 = finest, L-1 = coarsest)
decodes its anti-diagonal wavefront ``t = x + 2*y`` (:data:`ARM_WAVEFRONT_SLOPE`) at step
``t + GRID_LAG * (L - 1 - k)``; a step codes the wavefronts of all grids scheduled there,
coarsest grid first, each by increasing ``y``. No latent depends on another of its own step (its
context lies in earlier wavefronts of its grid, its co-located coarser latent in an earlier step),
so the decoder evaluates the ARM on a whole step at once: about ``W + 2H`` steps for the whole
pyramid (version 1: ``W + 3H`` per grid, 4,551 for 768x512; now 1,796).

A latent ``v`` with integer-ARM outputs ``mu_q`` (mean in 1/16) and ``s`` is coded as the symbol
of the residual ``r = clip(v - (mu_q >> 4), -R, R)`` (zigzag order, :data:`SYMBOL_ORDER`) with
table row ``(mu_q & 15, s)``. The residuals +-R are escapes: ``|v - (mu_q >> 4)| - R`` follows
as an order-0 exp-Golomb code in a separate bit section, so the range-coded section is one
uninterrupted stream.
"""

from __future__ import annotations

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
from lnic.bitstream.prob_table import bits_table, probability_table
from lnic.errors import BitstreamError
from lnic.format import (
    ARM_ACT_CLAMP,
    ARM_ACT_FRAC_BITS,
    ARM_CONTEXT,
    ARM_WAVEFRONT_SLOPE,
    ESCAPE_BITS_MAX,
    GRID_LAG,
    LATENT_CLAMP,
    LOG_SCALE_MIN,
    LOG_SCALE_STEP_BITS,
    MU_FRAC_BITS,
    N_SCALES,
    SYMBOL_ORDER,
    SYMBOL_RADIUS,
)
from lnic.model.arm import arm_integer, gather_context, table_indices
from lnic.model.quantized import QuantizedLinear, integer_linear

_CHUNK = 1 << 16
_MU_MASK = (1 << MU_FRAC_BITS) - 1
_S = ARM_WAVEFRONT_SLOPE
N_SYMBOLS = 2 * SYMBOL_RADIUS + 1
ESCAPE_SYMBOL = 2 * SYMBOL_RADIUS - 1
"""Symbols >= this are escapes (residuals +R and -R)."""

assert SYMBOL_ORDER == "zigzag"
SYMBOL_RESIDUAL = np.array([(s + 1) // 2 if s % 2 else -(s // 2) for s in range(N_SYMBOLS)])
"""Residual of each range-coder symbol: 0, +1, -1, +2, -2, ..., +R, -R."""


def residual_symbols(resid: np.ndarray) -> np.ndarray:
    """Range-coder symbols of residuals already clipped to [-R, R] (inverse of SYMBOL_RESIDUAL)."""
    return np.where(resid > 0, 2 * resid - 1, -2 * resid)


def _model() -> constriction.stream.model.Categorical:
    return constriction.stream.model.Categorical(perfect=False)


@lru_cache(maxsize=1)
def coder_table() -> np.ndarray:
    """What the range coder is given: [N_SCALES * 16, N_SYMBOLS] float32, row ``scale * 16 + f``.

    Column ``s`` holds the table probability (an exact multiple of 2^-16, exact in float32) of
    the residual ``SYMBOL_RESIDUAL[s]``.
    """
    t = probability_table()  # [16, N_SCALES, N_SYMBOLS], columns residual -R .. R
    rows = t.transpose(1, 0, 2).reshape(-1, N_SYMBOLS)[:, SYMBOL_RESIDUAL + SYMBOL_RADIUS]
    out = np.ascontiguousarray(rows, dtype=np.float32)
    assert np.array_equal(out.astype(np.float64), rows)
    out.setflags(write=False)
    return out


# --- The schedule ---------------------------------------------------------------------------------


def grid_starts(levels: int) -> list[int]:
    """Step at which each grid (finest first) decodes its wavefront 0."""
    return [GRID_LAG * (levels - 1 - k) for k in range(levels)]


def wavefront_count(h: int, w: int) -> int:
    return w + _S * (h - 1)


def num_steps(shapes: list[tuple[int, int]]) -> int:
    """Sequential decoding steps (range-coder batches, at most) of a pyramid."""
    starts = grid_starts(len(shapes))
    return max(s + wavefront_count(h, w) for s, (h, w) in zip(starts, shapes))


def coding_order(shapes: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Coding order of the latents of grids of ``shapes`` (finest first).

    Returns ``(order, step)``: ``order`` are indices into the concatenation of the grids'
    raster-order latents (finest grid first), ``step`` the schedule step of each, both in
    coding order.
    """
    starts = grid_starts(len(shapes))
    levels = len(shapes)
    steps, ranks, rows = [], [], []
    for k, (h, w) in enumerate(shapes):
        y, x = np.divmod(np.arange(h * w), w)
        steps.append(starts[k] + x + _S * y)
        ranks.append(np.full(h * w, levels - 1 - k))  # coarsest first within a step
        rows.append(y)
    step, rank, y = (np.concatenate(v) for v in (steps, ranks, rows))
    order = np.lexsort((y, rank, step))
    return order, step[order]


# --- Encoder ----------------------------------------------------------------------------------


def _symbols(grids: list[np.ndarray], arm: list[QuantizedLinear]):
    """Per grid (finest first): residuals clipped to [-R, R], table rows (f, s) and escape
    magnitudes (-1: none), raster order."""
    ctx = gather_context([g.astype(np.float64) for g in grids])
    mu_q, scale_idx = arm_integer(arm, ctx)
    flat = np.concatenate([g.ravel() for g in grids]).astype(np.int64)
    resid = flat - (mu_q >> MU_FRAC_BITS)
    clipped = np.clip(resid, -SYMBOL_RADIUS, SYMBOL_RADIUS)
    escape = np.where(np.abs(resid) >= SYMBOL_RADIUS, np.abs(resid) - SYMBOL_RADIUS, -1)
    return clipped, mu_q & _MU_MASK, scale_idx, escape


def latent_bits(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> float:
    """Ideal code length in bits of the latents (table probabilities + escape codes)."""
    resid, f, s, escape = _symbols(grids, arm)
    bits = float(bits_table()[f, s, resid + SYMBOL_RADIUS].sum())
    return bits + sum(exp_golomb_length(int(e), 0) for e in escape[escape >= 0])


def encode_latents(grids: list[np.ndarray], arm: list[QuantizedLinear]) -> tuple[bytes, bytes]:
    """Returns (range-coded section, escape section) for integer grids (finest first)."""
    if any(np.abs(g).max(initial=0) > LATENT_CLAMP for g in grids):
        raise ValueError("latents exceed LATENT_CLAMP")
    resid, f, s, escape = _symbols(grids, arm)
    order, _ = coding_order([g.shape for g in grids])
    sym = residual_symbols(resid[order]).astype(np.int32)
    rows = (s * (1 << MU_FRAC_BITS) + f)[order]
    escape = escape[order]
    table = coder_table()
    encoder = constriction.stream.queue.RangeEncoder()
    model = _model()
    for i in range(0, len(sym), _CHUNK):
        sl = slice(i, i + _CHUNK)
        encoder.encode(sym[sl], model, table[rows[sl]])
    writer = BitWriter()
    for e in escape[escape >= 0]:
        write_exp_golomb(writer, int(e), 0)
    return encoder.get_compressed().astype("<u4").tobytes(), writer.getvalue()


# --- Decoder ----------------------------------------------------------------------------------


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
    plan = ArmPlan(arm)
    # First without the ARM's clamps, which decoded latents this small never reach (checked at
    # the end from their range, see ArmPlan.clamps_may_bite); again with them in the rare other
    # case, and whenever the first pass fails (a diverging pass can fail on a valid file).
    for clamps in (False, True):
        try:
            decoder = constriction.stream.queue.RangeDecoder(words)
        except Exception as exc:  # constriction rejects some malformed inputs up front
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        grids = _make_grids(shapes)
        try:
            _decode_all(decoder, escapes, plan, grids, clamps)
        except BitstreamError:
            if clamps:
                raise
            continue
        out = [np.array(g.raster_view()) for g in grids]
        largest = max(max(float(g.max(initial=0)), -float(g.min(initial=0))) for g in out)
        # Out-of-range latents are detected once at the end: decoding after such a value goes on
        # with bounded (if meaningless) numbers and the file is refused all the same.
        if largest > LATENT_CLAMP:
            if clamps:
                raise BitstreamError("decoded latent out of range (corrupt bitstream)")
            continue
        if clamps or not plan.clamps_may_bite(largest) or _clamps_did_not_bite(arm, plan, out):
            return out
    raise AssertionError("unreachable")


MAX_CHECKED = 1 << 16
"""Latents whose ARM output :func:`_clamps_did_not_bite` recomputes at most (else: decode again)."""


def _clamps_did_not_bite(
    arm: list[QuantizedLinear], plan: ArmPlan, grids: list[np.ndarray]
) -> bool:
    """After a pass without the ARM's clamps: did none of them bite after all?

    A clamp can only bite for a latent with an ARM input above the largest magnitude ``m`` for
    which :meth:`ArmPlan.clamps_may_bite` is False. Those latents (around the few large ones)
    get the exact ARM (``arm_integer``) and the unclamped one, from the decoded values: if they
    agree everywhere, the pass was exact (at the first latent where they would not, the decoded
    context was still exact, and that latent is among those checked).
    """
    lo, hi = 0, LATENT_CLAMP
    while lo < hi:  # the largest m with no clamp biting
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if not plan.clamps_may_bite(mid) else (lo, mid - 1)
    offsets = np.array(ARM_CONTEXT)
    contexts = []
    for k, g in enumerate(grids):
        h, w = g.shape
        big = np.argwhere(np.abs(g) > lo)
        cells = [big[:, None, :] - offsets[None, :, :]]  # latents with a large neighbour
        if k + 1 < len(grids):  # latents whose co-located coarser latent is large
            parents = np.argwhere(np.abs(grids[k + 1]) > lo)
            cells.append(2 * parents[:, None, :] + np.array([[0, 0], [0, 1], [1, 0], [1, 1]]))
        cells = np.concatenate([c.reshape(-1, 2) for c in cells])
        cells = cells[
            (cells[:, 0] >= 0) & (cells[:, 0] < h) & (cells[:, 1] >= 0) & (cells[:, 1] < w)
        ]
        cells = np.unique(cells, axis=0)
        if len(cells) > MAX_CHECKED:
            return False
        ctx = np.zeros((len(cells), len(ARM_CONTEXT) + 1))
        for j, (dy, dx) in enumerate(ARM_CONTEXT):
            y, x = cells[:, 0] + dy, cells[:, 1] + dx
            ok = (y >= 0) & (x >= 0) & (x < w)
            ctx[ok, j] = g[y[ok], x[ok]]
        if k + 1 < len(grids):
            ctx[:, -1] = grids[k + 1][cells[:, 0] // 2, cells[:, 1] // 2]
        contexts.append(ctx)
    ctx = np.concatenate(contexts)
    if not len(ctx):
        return True
    mu, scale = arm_integer(arm, ctx)
    x = ctx * 2.0**ARM_ACT_FRAC_BITS  # the same without clamps
    for i, layer in enumerate(arm):
        x = integer_linear(layer, x, ARM_ACT_FRAC_BITS, 1 << 62, relu=i < len(arm) - 1)
    if np.abs(x).max() >= 2.0**50:  # (beyond exact float64 arithmetic: assume the worst)
        return False
    free_mu, free_scale = table_indices(x)
    return bool(np.array_equal(mu, free_mu) and np.array_equal(scale, free_scale))


# --- Fast decoding ------------------------------------------------------------------------------
#
# The decoder evaluates the integer ARM once per step (1,796 steps for a 768x512 image), so the
# fixed cost per step is what costs time. With numba (a dependency), a step is two compiled calls
# (:mod:`lnic.bitstream.arm_kernels`: context gathering + ARM + table rows, then the store of the
# decoded latents) around the range decoder's call; without it, about 18 numpy calls. Four
# devices serve both loops:
#
# * Storage by wavefront: a grid is held in a zero-padded buffer indexed ``(t, y)`` with
#   ``t = x + 2 y``. The latents of one wavefront are then contiguous, and the 15 cells of a
#   window around them (rows dy = -2..0, five columns each: dx = -2..2, -3..1, -4..0) are 15
#   contiguous runs at fixed offsets: one strided copy per grid gathers its part of the step's
#   context. The window's two cells that are not context get zero weights.
# * The coarser latent rides in the current cell: the decoded values of a coarser grid are
#   copied into the (up to) four cells of their children in the next finer grid's buffer, where
#   the window's centre (dy, dx) = (0, 0) picks them up as the 13th ARM input before the children
#   overwrite them with their own values. Children are decoded at least ``GRID_LAG`` + t steps
#   after their parent's wavefront t, so blocks of wavefronts [t0, 2 t0 + GRID_LAG) are copied
#   at once: one strided copy, about log2(wavefronts) times per grid. (A child column x = w that
#   does not exist, for odd widths, is zeroed again at once: it is context of its neighbours; a
#   child row y = h lands in a spare row that nothing reads.)
# * Folded fixed point: every layer ``floor((x . W + b') / 2^e)`` is computed as
#   ``floor(x . (W / 2^e) + b'')`` with the power-of-two scale and the rounding offset folded
#   into the weights and a constant-one input (exact: scaling by a power of two commutes with
#   float64 rounding, and every value stays an integer multiple of 2^-e far below 2^53). The
#   output layer directly produces ``mu_q``, ``m_int`` and ``scale_idx``
#   (``floor(floor(a) / n) = floor(a / n)``; clamps commute with these monotone maps), so
#   the table row is one dot product and the latent one lookup and one addition.
# * Table rows: :func:`coder_table`, float32 (half the bytes to copy per latent) and in zigzag
#   symbol order (constriction finds the likeliest symbols first).


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

    def clamps_may_bite(self, largest: float) -> bool:
        """Whether any clamp of the ARM (hidden activations to +-2^22, and ``mu_q`` / ``m_int``)
        can change a value when no ARM input exceeds ``largest`` in magnitude (a bound through
        the layers; ``scale_idx`` is always clipped).

        The decoder first runs without them (ReLU alone is a cheaper call than a clip, and so is
        clipping scale_idx alone) and checks this at the end with the largest decoded latent: if
        no clamp could bite for inputs that small, none did, since up to the first step where
        one would have, the latents were exact (and no larger). The table row stays valid either
        way: ``mu_q - 16 m_int`` is in 0..15.
        """
        bound = np.append(np.full(_WINDOW, float(largest)), 1.0)
        for m in self.layers[:-1]:
            bound = np.abs(m) @ bound + 1.0  # +1: the floor
            if bound.max() > ARM_ACT_CLAMP:
                return True
        mu = float(np.abs(self.layers[-1][0]) @ bound) + 1.0
        return not mu < min(-_OUT_LO[0], _OUT_HI[0])


def _output_matrix(w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Rows producing ``mu_q``, ``m_int`` and ``scale_idx`` from the last hidden layer.

    With ``a`` the rounded layer output before its floor (``w`` and ``bias`` already include the
    ``2^-e`` scale and the ``+1/2``), ``x = floor(a)`` and the spec's ``mu_q = floor((x + 2^(s-1))
    / 2^s)`` equals ``floor(a / 2^s + 1/2)``; likewise for ``m_int`` and ``scale_idx``.
    """
    s_mu = ARM_ACT_FRAC_BITS - MU_FRAC_BITS
    s_sc = ARM_ACT_FRAC_BITS - LOG_SCALE_STEP_BITS
    s_min = LOG_SCALE_MIN * 2.0**ARM_ACT_FRAC_BITS  # an integer (checked at import)
    out = np.zeros((3, w.shape[1] + 1))
    # mu_q = floor((a + 2^(s_mu - 1)) / 2^s_mu)
    out[0, :-1] = w[0] * 2.0**-s_mu
    out[0, -1] = (bias[0] + 2.0 ** (s_mu - 1)) * 2.0**-s_mu
    # m_int = floor((a + 2^(s_mu - 1)) / 2^(s_mu + MU_FRAC_BITS))
    out[1, :-1] = w[0] * 2.0 ** -(s_mu + MU_FRAC_BITS)
    out[1, -1] = (bias[0] + 2.0 ** (s_mu - 1)) * 2.0 ** -(s_mu + MU_FRAC_BITS)
    # scale_idx = floor((a - s_min + 2^(s_sc - 1)) / 2^s_sc)
    out[2, :-1] = w[1] * 2.0**-s_sc
    out[2, -1] = (bias[1] - s_min + 2.0 ** (s_sc - 1)) * 2.0**-s_sc
    return out


# The window: a parallelogram of 3 rows (dy = -2 .. 0) of _COLS cells holding the context and the
# current latent; row dy covers dx = _A + _C dy .. _A + _C dy + _COLS - 1 (_C: the shift per row
# that makes it narrowest). In the wavefront-major buffer it is one strided view.


def _window_shape() -> tuple[int, int, int]:
    need = {
        dy: [dx for d, dx in ARM_CONTEXT if d == dy] + ([0] if dy == 0 else [])
        for dy in (-2, -1, 0)
    }
    best = None
    for c in range(-4, 5):
        lo = min(min(v) - c * dy for dy, v in need.items() if v)
        hi = max(max(v) - c * dy for dy, v in need.items() if v)
        if best is None or hi - lo < best[2] - 1:
            best = (c, lo, hi - lo + 1)
    return best  # type: ignore[return-value]


_C, _A, _COLS = _window_shape()
_WINDOW = 3 * _COLS
_CENTRE = 2 * _COLS - _A  # (dy, dx) = (0, 0): the current latent, holding the coarser latent
_CONTEXT_COLUMNS = [(dy + 2) * _COLS + dx - _A - _C * dy for dy, dx in ARM_CONTEXT]
_WINDOW_CELLS = [(dy, _A + _C * dy + j) for dy in (-2, -1, 0) for j in range(_COLS)]
# the window of wavefront t spans wavefronts t - _T_FRONT .. t + _T_BACK - 1
_T_FRONT = -min(dx + _S * dy for dy, dx in _WINDOW_CELLS)
_T_BACK = max(max(dx + _S * dy for dy, dx in _WINDOW_CELLS) + 1, _S)
_Y_PAD = 2  # rows y = -2, -1 above the grid
_Y_SPARE = 1  # row y = h below it: children of an odd-height grid's last coarser row
_X_PAD = max(abs(dx) for _, dx in _WINDOW_CELLS)  # raster layout: columns either side
_MU_Q_MAX = (ARM_ACT_CLAMP + (1 << (ARM_ACT_FRAC_BITS - MU_FRAC_BITS - 1))) >> (
    ARM_ACT_FRAC_BITS - MU_FRAC_BITS
)
_MU_Q_MIN = (-ARM_ACT_CLAMP + (1 << (ARM_ACT_FRAC_BITS - MU_FRAC_BITS - 1))) >> (
    ARM_ACT_FRAC_BITS - MU_FRAC_BITS
)
_OUT_LO = np.array([_MU_Q_MIN, _MU_Q_MIN >> MU_FRAC_BITS, 0.0])
_OUT_HI = np.array([_MU_Q_MAX, _MU_Q_MAX >> MU_FRAC_BITS, N_SCALES - 1.0])
# row of coder_table() = scale_idx * 16 + (mu_q & 15) = out0 - 16 out1 + 16 out2
_ROW = np.array([1.0, -float(1 << MU_FRAC_BITS), float(1 << MU_FRAC_BITS)])
assert float(LOG_SCALE_MIN * 2.0**ARM_ACT_FRAC_BITS).is_integer()
assert all(-2 <= dy <= 0 and (dy < 0 or dx < 0) for dy, dx in ARM_CONTEXT)
assert all(dx + _S * dy < 0 for dy, dx in ARM_CONTEXT)  # context in earlier wavefronts
assert GRID_LAG >= 1


@lru_cache(maxsize=1)
def min_symbol_bits() -> float:
    """Fewest bits any symbol can cost: -log2 of the table's largest probability."""
    return float(-np.log2(probability_table().max()))


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
    return (_ROW @ o).astype(np.int64), o[1].astype(np.int64)


_clip = np._core.umath.clip if hasattr(np, "_core") else np.core.umath.clip  # the bare ufunc


MAX_LAYOUT_RATIO = 6
"""The wavefront-major buffer of an (h, w) grid holds about (w + 2 h) * h cells: grids for which
that exceeds this many times h * w (taller than about 2.5 times their width) use the raster
layout, which is slower (one gather per wavefront) but needs only h * w cells."""

LAYOUT_SLACK = 1 << 16
"""Cells the wavefront-major layout may always use (small grids never fall back)."""


def _make_grids(shapes: list[tuple[int, int]]) -> list:
    """Empty decoding buffers for every grid; the wavefront-major ones share one array (the
    compiled loop addresses them all through it)."""
    wave = [_wave_layout_fits(h, w) for h, w in shapes]
    sizes = [_WaveGrid.size(h, w) if ok else 0 for (h, w), ok in zip(shapes, wave)]
    storage = np.zeros(sum(sizes))
    bases = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    return [
        _WaveGrid(h, w, storage, base) if ok else _RasterGrid(h, w)
        for (h, w), ok, base in zip(shapes, wave, bases)
    ]


def _wave_layout_fits(h: int, w: int) -> bool:
    cells = (wavefront_count(h, w) + _T_FRONT + _T_BACK) * (h + _Y_PAD + _Y_SPARE)
    return cells <= MAX_LAYOUT_RATIO * h * w + LAYOUT_SLACK


def _fronts(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(first y, length) of every wavefront of an (h, w) grid (length 0: empty)."""
    t = np.arange(wavefront_count(h, w))
    y0 = np.maximum(0, -((w - 1 - t) // _S))
    return y0, np.maximum(0, np.minimum(h - 1, t // _S) - y0 + 1)


class _WaveGrid:
    """A grid in its wavefront-major buffer: cell (t, y) at ``(t + _T_FRONT) * hs + y + 2``."""

    wave = True

    def __init__(self, h: int, w: int, storage: np.ndarray, base: int) -> None:
        """``storage``: a zeroed buffer shared by all grids (:func:`_make_grids`), of which this
        grid uses :meth:`size` cells from ``base`` on."""
        self.h, self.w = h, w
        self.hs = hs = h + _Y_PAD + _Y_SPARE
        self.n_fronts = wavefront_count(h, w)
        self.base, self.storage = base, storage
        self.buf = storage[base : base + self.size(h, w)]
        # the window of a wavefront whose first latent is (t, y0) starts at cell
        # (t + _A - 2 (_C + S), y0 - 2), i.e. at t * hs + y0; its cell (dy, j) for latent i is at
        # + (dy + 2)((S + _C) hs + 1) + j hs + i
        s = self.buf.strides[0]
        self.windows = np.lib.stride_tricks.as_strided(
            self.buf,
            shape=(self.n_fronts * hs, 3, _COLS, h),
            strides=(s, ((_S + _C) * hs + 1) * s, hs * s, s),
            writeable=False,
        )
        self.y0, self.n = _fronts(h, w)

    @staticmethod
    def size(h: int, w: int) -> int:
        """Cells of the buffer of an (h, w) grid."""
        hs = h + _Y_PAD + _Y_SPARE
        return (wavefront_count(h, w) + _T_FRONT + _T_BACK + 2) * hs + 2 * h + 16

    def cell(self, t, y):
        return (t + _T_FRONT) * self.hs + y + _Y_PAD

    def raster_view(self) -> np.ndarray:
        """The grid as an (h, w) view: cell (y, x) is at (x + S y, y)."""
        s = self.buf.strides[0]
        return np.lib.stride_tricks.as_strided(
            self.buf[self.cell(0, 0) :],
            shape=(self.h, self.w),
            strides=((_S * self.hs + 1) * s, self.hs * s),
        )


class _RasterGrid:
    """A grid in a raster buffer (tall, narrow grids): cell (y, x) at ``(y + 2) * pw + x + p``
    (``p`` = _X_PAD columns on either side)."""

    wave = False

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.pw = pw = w + 2 * _X_PAD
        self.n_fronts = wavefront_count(h, w)
        self.buf = np.zeros((h + _Y_PAD + _Y_SPARE) * pw + 2 * _X_PAD)
        self.offsets = np.array([dy * pw + dx for dy, dx in _WINDOW_CELLS])
        self.y0, self.n = _fronts(h, w)

    def cell(self, t, y):
        return (y + _Y_PAD) * self.pw + t - _S * y + _X_PAD

    def raster_view(self) -> np.ndarray:
        return self.buf[_Y_PAD * self.pw : (self.h + _Y_PAD) * self.pw].reshape(self.h, self.pw)[
            :, _X_PAD : self.w + _X_PAD
        ]


def _flushes(coarse, fine) -> list[tuple[int, object]]:
    """When and how the decoded values of ``coarse`` reach their children's cells in ``fine``.

    Children of the coarser latent (t, Y) are the cells (2t + j + S i, 2Y + i), i, j in {0, 1},
    of the finer grid, decoded from step ``start + GRID_LAG + 2t`` on; the wavefronts
    [t0, t1) of the coarser grid are decoded by step ``start + t1``. So blocks of wavefronts
    [t0, t1) with ``t1 <= 2 t0 + GRID_LAG`` are copied at once, before step ``start + t1``:
    about log2(wavefronts) copies per grid. Returns (coarser-grid wavefront t1, copy function).
    """
    blocks, t0 = [], 0
    while t0 < coarse.n_fronts:
        t1 = min(coarse.n_fronts, 2 * t0 + GRID_LAG)
        blocks.append((t0, t1))
        t0 = t1
    out = []
    for t0, t1 in blocks:
        if coarse.wave and fine.wave:
            s = fine.buf.strides[0]
            dst = np.lib.stride_tricks.as_strided(
                fine.buf[fine.cell(2 * t0, 0) :],
                shape=(t1 - t0, 2, 2, coarse.h),
                strides=(2 * fine.hs * s, (_S * fine.hs + 1) * s, fine.hs * s, 2 * s),
            )
            src = np.lib.stride_tricks.as_strided(
                coarse.buf[coarse.cell(t0, 0) :],
                shape=(t1 - t0, 1, 1, coarse.h),
                strides=(coarse.hs * s, 0, 0, s),
            )
            # children at x = w do not exist (odd widths): their cells are context of their
            # neighbours and must stay zero; (x = w, y) is cell (w + S y, y) for y = 0 .. h
            edge = None
            if 2 * coarse.w > fine.w:
                edge = fine.buf[fine.cell(fine.w, 0) :: _S * fine.hs + 1][: fine.h + 1]

            def copy(dst=dst, src=src, edge=edge) -> None:
                np.copyto(dst, src)
                if edge is not None:
                    edge[...] = 0.0
        else:
            t = np.concatenate([np.full(n, tc) for tc, n in zip(range(t0, t1), coarse.n[t0:t1])])
            y = np.concatenate(
                [np.arange(a, a + n) for a, n in zip(coarse.y0[t0:t1], coarse.n[t0:t1])]
            )
            x = t - _S * y
            src_cells, dst_cells = [], []
            for i in (0, 1):
                for j in (0, 1):
                    keep = (2 * y + i < fine.h) & (2 * x + j < fine.w)
                    src_cells.append(coarse.cell(t[keep], y[keep]))
                    yf, xf = 2 * y[keep] + i, 2 * x[keep] + j
                    dst_cells.append(fine.cell(xf + _S * yf, yf))
            src_idx, dst_idx = np.concatenate(src_cells), np.concatenate(dst_cells)

            def copy(src_idx=src_idx, dst_idx=dst_idx) -> None:
                fine.buf[dst_idx] = coarse.buf[src_idx]

        out.append((t1, copy))
    return out


def _decode_all(decoder, escapes: bytes, plan: ArmPlan, grids: list, clamps: bool) -> None:
    """Decode every grid, step by step of the global schedule (with the ARM's clamps if
    ``clamps``; scale_idx is always clipped)."""
    levels = len(grids)
    starts = grid_starts(levels)
    n_steps = num_steps([(g.h, g.w) for g in grids])
    # per step: its segments (one grid's wavefront each, coarsest grid first): (grid, t, window
    # anchor, first cell, length, offset in the step)
    segs: list[list] = [[] for _ in range(n_steps)]
    lens = np.zeros(n_steps, dtype=np.int64)
    for k in range(levels - 1, -1, -1):
        g = grids[k]
        t = np.flatnonzero(g.n)
        steps = starts[k] + t
        offs = lens[steps]
        lens[steps] += g.n[t]
        n, y0 = g.n[t], g.y0[t]
        anchor = (t * g.hs + y0).tolist() if g.wave else [-1] * len(t)
        for step, *seg in zip(
            steps.tolist(), t.tolist(), anchor, g.cell(t, y0).tolist(), n.tolist(), offs.tolist()
        ):
            segs[step].append((g, *seg))
    # ... and the copies of coarser values into their children's cells to do before it
    flushes: list[list] = [[] for _ in range(n_steps + 1)]
    for k in range(1, levels):
        for t1, copy in _flushes(grids[k], grids[k - 1]):
            flushes[starts[k] + t1].append(copy)
    schedule, pending = [], []
    for n, seg, flush in zip(lens.tolist(), segs, flushes):
        pending += flush
        if n:  # (a step can be empty when every grid in progress is narrower than 3)
            single = len(seg) == 1 and seg[0][2] >= 0
            schedule.append((pending or None, n, seg[0] if single else seg))
            pending = []
    last_flushes = pending + flushes[n_steps]  # no child left to decode: harmless

    reader = BitReader(escapes)
    codes_left = _count_escape_codes(escapes)
    unchecked: list[np.ndarray] = []
    from lnic.bitstream import arm_kernels  # (imports numba: only when decoding)

    if arm_kernels.AVAILABLE:
        codes_left = _compiled_loop(
            decoder, reader, codes_left, unchecked, plan, schedule, int(lens.max()), clamps, grids
        )
    else:
        codes_left = _numpy_loop(
            decoder, reader, codes_left, unchecked, plan, schedule, int(lens.max()), clamps
        )
    for copy in last_flushes:
        copy()
    if unchecked and np.concatenate(unchecked).max() >= ESCAPE_SYMBOL:
        raise BitstreamError("escape symbol without an escape code (corrupt bitstream)")


def _compiled_loop(
    decoder,
    reader: BitReader,
    codes_left: int,
    unchecked: list,
    plan: ArmPlan,
    schedule: list,
    max_n: int,
    clamps: bool,
    grids: list,
) -> int:
    """The decoding loop with two compiled calls per step (:mod:`lnic.bitstream.arm_kernels`):
    the ARM with its context gathering and table rows, then the store of the decoded latents.
    Returns the escape codes left unread."""
    hidden_layers = tuple(plan.layers[:-1])
    out_layer = plan.layers[-1]
    if clamps:
        lo, hi, hidden_max = plan.lo.ravel().copy(), plan.hi.ravel().copy(), float(ARM_ACT_CLAMP)
    else:  # only scale_idx is clipped (see ArmPlan.clamps_may_bite)
        lo = np.array([-np.inf, -np.inf, 0.0])
        hi = np.array([np.inf, np.inf, float(N_SCALES - 1)])
        hidden_max = np.inf
    table = coder_table()
    x_buf = np.empty((_WINDOW + 1) * max_n)
    scratch = tuple(np.empty(m.shape[0] * max_n) for m in hidden_layers)
    o_buf = np.empty(3 * max_n)
    prob_buf = np.empty(table.shape[1] * max_n, dtype=table.dtype)
    storage = next((g.storage for g in grids if g.wave), np.zeros(1))
    steps = []
    for flush, n, seg in schedule:
        segs = [seg] if type(seg) is tuple else seg
        wave = [
            (g.base + anchor, g.hs, m, off, g.base + cell)
            for g, t, anchor, cell, m, off in segs
            if anchor >= 0
        ]
        raster = [(g, t, m, off) for g, t, anchor, _, m, off in segs if anchor < 0]
        steps.append((flush, n, np.array(wave, dtype=np.int64).reshape(-1, 5), raster, segs))

    from lnic.bitstream.arm_kernels import arm_step, store_step

    decode, model, residual, row_vec = decoder.decode, _model(), _RESIDUAL, _ROW
    esc, cols, row_step = ESCAPE_SYMBOL, _COLS, _S + _C
    n_sym = table.shape[1]
    for flush, n, seg_table, raster, segs in steps:
        if flush:
            for copy in flush:
                copy()
        if raster:
            x = x_buf[: (_WINDOW + 1) * n].reshape(_WINDOW + 1, n)
            for g, t, m, off in raster:
                x[:-1, off : off + m] = g.buf[_raster_window(g, t)]
        if not arm_step(
            storage,
            seg_table,
            n,
            cols,
            row_step,
            x_buf,
            hidden_layers,
            scratch,
            out_layer,
            o_buf,
            lo,
            hi,
            hidden_max,
            row_vec,
            table,
            prob_buf,
        ):
            raise BitstreamError("corrupt latent section (entropy model out of range)")
        try:
            sym = decode(model, prob_buf[: n_sym * n].reshape(n, n_sym))
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        top = store_step(sym, residual, o_buf, n, storage, seg_table)
        for g, t, m, off in raster:
            g.buf[g.cell(t, np.arange(g.y0[t], g.y0[t] + m))] = (
                residual[sym[off : off + m]] + o_buf[n + off : n + off + m]
            )
        if codes_left:
            if top >= esc:
                codes_left -= _read_escapes(reader, sym, segs)
        else:
            unchecked.append(sym)
    return codes_left


def _numpy_loop(
    decoder,
    reader: BitReader,
    codes_left: int,
    unchecked: list,
    plan: ArmPlan,
    schedule: list,
    max_n: int,
    clamps: bool,
) -> int:
    """The decoding loop with numpy calls (used when numba is unavailable); returns the escape
    codes left unread. Same results as :func:`_compiled_loop`."""
    hidden_layers, out_layer, lo, hi = plan.layers[:-1], plan.layers[-1], plan.lo, plan.hi
    ctx = np.empty((_WINDOW + 1, max_n))
    ctx[-1] = 1.0
    ctx_window = ctx[:-1].reshape(3, _COLS, max_n)
    scratch = [np.empty(m.shape[0] * max_n) for m in hidden_layers]
    out_buf = np.empty(3 * max_n)
    views: dict[int, tuple] = {}

    def views_for(n: int) -> tuple:
        hidden = [
            sc[: m.shape[0] * n].reshape(m.shape[0], n) for m, sc in zip(hidden_layers, scratch)
        ]
        o = out_buf[: 3 * n].reshape(3, n)
        v = (ctx[:, :n], ctx_window[:, :, :n], hidden, (hidden * 2)[1], o, o[1], o[2])
        views[n] = v
        return v

    decode, model, rows, residual = decoder.decode, _model(), coder_table(), _RESIDUAL
    dot, floor, clip, copyto, add, maximum = np.dot, np.floor, _clip, np.copyto, np.add, np.maximum
    take_rows, take_residual = rows.take, residual.take  # (np.take: a Python wrapper)
    intp, row_vec = np.intp, _ROW
    clamp, esc = float(ARM_ACT_CLAMP), ESCAPE_SYMBOL
    scale_max = float(N_SCALES - 1)
    two = len(hidden_layers) == 2  # the usual architecture: unrolled below
    m_a, m_b = (hidden_layers * 2)[:2]
    for flush, n, seg in schedule:
        if flush:
            for copy in flush:
                copy()
        x, cw, hidden, h2, o, o1, o2 = views.get(n) or views_for(n)
        single = type(seg) is tuple  # one wavefront-major grid: the usual case
        if single:
            copyto(cw, seg[0].windows[seg[2], :, :, :n])
        else:
            for g, t, anchor, _, m, off in seg:
                if anchor >= 0:
                    copyto(cw[:, :, off : off + m], g.windows[anchor, :, :, :m])
                else:
                    x[:-1, off : off + m] = g.buf[_raster_window(g, t)]
        if two and not clamps:
            h1 = hidden[0]
            dot(m_a, x, out=h1)
            floor(h1, out=h1)
            maximum(h1, 0.0, out=h1)
            dot(m_b, h1, out=h2)
            floor(h2, out=h2)
            maximum(h2, 0.0, out=h2)
        else:
            for m, h2 in zip(hidden_layers, hidden):
                dot(m, x, out=h2)
                floor(h2, out=h2)
                if clamps:
                    clip(h2, 0.0, clamp, out=h2)
                else:
                    maximum(h2, 0.0, out=h2)
                x = h2
        dot(out_layer, h2, out=o)
        floor(o, out=o)
        if clamps:
            clip(o, lo, hi, out=o)
        else:
            clip(o2, 0.0, scale_max, out=o2)
        try:
            sym = decode(model, take_rows(dot(row_vec, o).astype(intp), 0))
        except Exception as exc:
            raise BitstreamError(f"corrupt latent section ({exc})") from exc
        r = take_residual(sym)
        if single:
            cell = seg[3]
            add(r, o1, out=seg[0].buf[cell : cell + n])
        else:
            for g, t, anchor, cell, m, off in seg:
                if anchor >= 0:
                    add(r[off : off + m], o1[off : off + m], out=g.buf[cell : cell + m])
                else:
                    g.buf[g.cell(t, np.arange(g.y0[t], g.y0[t] + m))] = (
                        r[off : off + m] + o1[off : off + m]
                    )
        if codes_left:
            if sym.max() >= esc:
                codes_left -= _read_escapes(reader, sym, [seg] if single else seg)
        else:
            unchecked.append(sym)
    return codes_left


def _count_escape_codes(data: bytes) -> int:
    """Number of complete order-0 exp-Golomb codes in the escape section (its padding,
    fewer than 8 zero bits, is not one)."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    count, pos, end = 0, 0, len(bits)
    ones = np.flatnonzero(bits)
    while True:
        # a code is z zeros, a one, then z more bits
        i = int(np.searchsorted(ones, pos))
        if i == len(ones):
            return count
        zeros = int(ones[i]) - pos
        if zeros > ESCAPE_BITS_MAX + 1 or ones[i] + zeros + 1 > end:
            return count
        pos = int(ones[i]) + zeros + 1
        count += 1


def _raster_window(g: _RasterGrid, t: int) -> np.ndarray:
    """Indices [15, n] of the context window of wavefront ``t`` in a raster grid's buffer."""
    y = np.arange(g.y0[t], g.y0[t] + g.n[t])
    return g.offsets[:, None] + g.cell(t, y)[None, :]


def _read_escapes(reader: BitReader, sym: np.ndarray, segs: list) -> int:
    """Apply the escape codes of one step's symbols, in order, to the stored latents; returns
    how many were read."""
    found = np.flatnonzero(sym >= ESCAPE_SYMBOL).tolist()
    for j in found:
        extra = read_exp_golomb(reader, 0, max_prefix=ESCAPE_BITS_MAX)
        if sym[j] != ESCAPE_SYMBOL:
            extra = -extra  # residual -R
        for g, t, _, _, n, off in segs:
            if off <= j < off + n:
                g.buf[g.cell(t, g.y0[t] + j - off)] += extra
                break
    return len(found)


_RESIDUAL = SYMBOL_RESIDUAL.astype(np.float64)
