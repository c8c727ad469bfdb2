"""The decoder: bitstream -> image, in exact integer arithmetic end to end.

Parsing (integer ARM + fixed table + range decoder) and reconstruction (upsampling + synthesis
in fixed point) are both exact, so a file decodes to the same pixels on every machine and any
number of threads.

Reconstruction is the integer computation of ``lnic.model.upsampling.upsample_integer`` and
``lnic.model.synthesis.synthesis_integer`` (the reference), reorganised for speed and memory:

* every ``floor((acc + 2^(e-1)) / 2^e)`` is computed as ``floor(acc * 2^-e + 1/2)`` with the
  power-of-two scale folded into the weights and the biases carried by a constant-one input
  (exact: scaling by a power of two commutes with float64 rounding, and every value is an
  integer multiple of ``2^-e`` far below ``2^53``);
* the upsampling applies each axis as products with banded matrices, block by block;
* the synthesis runs on bands of rows, so memory stays proportional to the image (no 40-channel
  full-size intermediate): the 1x1 layers per block of pixels, the two 3x3 convolutions per band
  of rows with a halo of two rows (recomputed, not stored).

All values are integers (or integers + 1/2 before a floor) held in float64; matrix products
of them are exact whatever the BLAS, its summation order or its thread count.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from lnic.bitstream.container import Sections, unpack_file
from lnic.bitstream.format import (
    ARM_ACT_FRAC_BITS,
    ARM_WEIGHT_CLAMP,
    SYNTH_ACT_CLAMP,
    SYNTH_FRAC_BITS,
    WEIGHT_STEP_EXP_MAX,
    WEIGHT_STEP_EXP_MIN,
)
from lnic.bitstream.latent_coding import decode_latents
from lnic.bitstream.weights import decode_modules
from lnic.errors import BitstreamError, LnicError
from lnic.model.architecture import Architecture
from lnic.model.latents import grid_shapes
from lnic.model.quantized import QuantizedLinear

log = logging.getLogger(__name__)

_clip = np._core.umath.clip if hasattr(np, "_core") else np.core.umath.clip  # the bare ufunc

BLOCK_PIXELS = 2048
"""Pixels per block of the 1x1 synthesis layers (the hidden activations stay in cache)."""

BAND_PIXELS = 8192
"""About this many pixels per band of rows of the 3x3 convolutions."""

UP_BLOCK = 32
"""Output rows / columns per banded-matrix product of the upsampling."""


def validate_modules(modules: list[list[QuantizedLinear]]) -> None:
    """Refuse weights outside the ranges the encoder can write (docs/format.md).

    These ranges keep every accumulator of the integer decoder far below ``2^53``, which is what
    makes the float64 arithmetic exact; a crafted file outside them is refused rather than
    decoded inexactly.
    """
    fracs = (ARM_ACT_FRAC_BITS, None, SYNTH_FRAC_BITS)
    for name, layers, frac in zip(("ARM", "upsampling", "synthesis"), modules, fracs):
        e_w, e_b = layers[0].e_w, layers[0].e_b
        if not WEIGHT_STEP_EXP_MIN <= e_w <= WEIGHT_STEP_EXP_MAX:
            raise BitstreamError(f"{name} weight step 2^-{e_w} outside the format's range")
        if frac is not None and not 0 <= e_b <= frac + e_w:
            raise BitstreamError(f"{name} bias step 2^-{e_b} outside the format's range")
        for layer in layers:
            for v in (layer.weight, layer.bias):
                if v.size and np.abs(v).max() > ARM_WEIGHT_CLAMP:
                    raise BitstreamError(f"{name} weight out of range (corrupt bitstream)")


# --- Upsampling ---------------------------------------------------------------------------------


def _up_matrix(n: int, size: int, taps: np.ndarray) -> np.ndarray:
    """[size, n] matrix of the x2 polyphase filter with replicated borders (taps pre-scaled)."""
    a, b, c, d = (float(v) for v in taps)
    u = np.zeros((size, n))
    m = np.arange(n)

    def put(out: np.ndarray, offset: int, tap: float) -> None:
        keep = out < size
        np.add.at(u, (out[keep], np.clip(m[keep] + offset, 0, n - 1)), tap)

    for offset, tap in ((-2, a), (-1, c), (0, d), (1, b)):
        put(2 * m, offset, tap)
    for offset, tap in ((-1, b), (0, d), (1, c), (2, a)):
        put(2 * m + 1, offset, tap)
    return u


def _blocks(size: int, n: int):
    """Output blocks [o0, o1) and the input range [i0, i1) each needs (filter reach 2)."""
    for o0 in range(0, size, UP_BLOCK):
        o1 = min(size, o0 + UP_BLOCK)
        yield o0, o1, max(0, o0 // 2 - 2), min(n, (o1 - 1) // 2 + 3)


def _round_clip(x: np.ndarray, clamp: float) -> None:
    """In place: ``clip(floor(x + 1/2), -clamp, clamp)``."""
    x += 0.5
    np.floor(x, out=x)
    _clip(x, -clamp, clamp, out=x)


def upsample(
    grids: list[np.ndarray], taps: np.ndarray, e: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Exact integer upsampling (same result as ``upsample_integer``) into ``out[:levels]``.

    ``out`` is a float64 array [>= levels, H, W] (allocated if None); returns it.
    """
    levels = len(grids)
    h0, w0 = grids[0].shape
    if out is None:
        out = np.empty((levels, h0, w0))
    clamp = float(SYNTH_ACT_CLAMP)
    unit = 2.0**SYNTH_FRAC_BITS
    x = grids[-1][None] * unit
    for k in range(levels - 2, -1, -1):
        t = np.asarray(taps[k], dtype=np.float64) * 2.0**-e
        ch, (hc, wc), (h, w) = x.shape[0], x.shape[1:], grids[k].shape
        # columns: [ch * hc, wc] @ U^T -> [ch * hc, w]
        ut = _up_matrix(wc, w, t).T.copy()
        x2 = x.reshape(ch * hc, wc)
        xc = np.empty((ch * hc, w))
        for o0, o1, i0, i1 in _blocks(w, wc):
            blk = xc[:, o0:o1]
            np.matmul(x2[:, i0:i1], ut[i0:i1, o0:o1], out=blk)
            _round_clip(blk, clamp)
        xc = xc.reshape(ch, hc, w)
        # rows: U @ [ch, hc, w] -> [ch, h, w], written behind the finer grid
        nxt = out[: ch + 1] if k == 0 else np.empty((ch + 1, h, w))
        nxt[0] = grids[k] * unit
        u = _up_matrix(hc, h, t)
        for o0, o1, i0, i1 in _blocks(h, hc):
            blk = nxt[1:, o0:o1]
            np.matmul(u[o0:o1, i0:i1], xc[:, i0:i1], out=blk)
            _round_clip(blk, clamp)
        x = nxt
    if levels == 1:
        out[0] = grids[0] * unit
    return out


# --- Synthesis ----------------------------------------------------------------------------------


def _folded(layer: QuantizedLinear, frac: int, one_out: bool) -> np.ndarray:
    """[out (+1), in + 1] matrix computing ``(x . W + b') / 2^e + 1/2`` from ``[x, 1]``.

    With ``one_out`` an extra output row passes the constant one on to the next layer.
    """
    w = np.asarray(layer.weight, dtype=np.float64)
    b = np.asarray(layer.bias, dtype=np.float64)
    m = np.zeros((w.shape[0] + one_out, w.shape[1] + 1))
    m[: w.shape[0], :-1] = w * 2.0**-layer.e_w
    m[: w.shape[0], -1] = b * 2.0 ** (frac - layer.e_b) + 0.5
    if one_out:
        m[-1, -1] = 1.0
    return m


def _pointwise(z: np.ndarray, lin1: np.ndarray, lin2: np.ndarray, y: np.ndarray) -> None:
    """The two 1x1 layers: z [levels + 1, N] (last row ones) -> y [C, N], block by block."""
    n = z.shape[1]
    clamp = float(SYNTH_ACT_CLAMP)
    hidden = np.empty((lin1.shape[0], BLOCK_PIXELS))
    for p0 in range(0, n, BLOCK_PIXELS):
        p1 = min(n, p0 + BLOCK_PIXELS)
        hb = hidden[:, : p1 - p0]
        np.matmul(lin1, z[:, p0:p1], out=hb)
        np.floor(hb, out=hb)
        _clip(hb, 0.0, clamp, out=hb)
        yb = y[:, p0:p1]
        np.matmul(lin2, hb, out=yb)
        np.floor(yb, out=yb)
        _clip(yb, -clamp, clamp, out=yb)


def _conv3x3(src: np.ndarray, rows: np.ndarray, conv: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """One folded 3x3 conv (replicated borders) of ``src`` [C, H, W] at the given output rows.

    ``rows`` are the output rows (consecutive); ``cols`` a scratch [C * 9 + 1, >= n * W] whose
    last row is ones. Returns floor'd, clamped [C, n, W].
    """
    c, h, w = src.shape
    n = len(rows)
    col = np.empty(w + 2, dtype=np.intp)
    col[1:-1] = np.arange(w)
    col[0], col[-1] = 0, w - 1
    r = np.clip(np.arange(rows[0] - 1, rows[-1] + 2), 0, h - 1)
    padded = src[:, r][:, :, col]  # [C, n + 2, W + 2]
    view = cols[: c * 9, : n * w].reshape(c, 3, 3, n, w)
    for dy in range(3):
        for dx in range(3):
            view[:, dy, dx] = padded[:, dy : dy + n, dx : dx + w]
    out = np.matmul(conv, cols[:, : n * w]).reshape(c, n, w)
    np.floor(out, out=out)
    _clip(out, -float(SYNTH_ACT_CLAMP), float(SYNTH_ACT_CLAMP), out=out)
    return out


def synthesize(synth: list[QuantizedLinear], z: np.ndarray, height: int, width: int) -> np.ndarray:
    """Exact integer synthesis of ``z`` [levels + 1, H * W] (last row ones) to uint8 (H, W, C).

    Same pixels as ``synthesis_integer`` followed by the output rounding of :func:`reconstruct`.
    """
    lin1, lin2, conv_a, conv_b = synth
    frac = SYNTH_FRAC_BITS
    m1, m2 = _folded(lin1, frac, True), _folded(lin2, frac, False)
    ma, mb = _folded(conv_a, frac, False), _folded(conv_b, frac, False)
    c = m2.shape[0]
    y = np.empty((c, height * width))
    _pointwise(z, m1, m2, y)
    y = y.reshape(c, height, width)

    band = max(1, BAND_PIXELS // width)
    cols = np.empty((c * 9 + 1, (band + 2) * width))
    cols[-1] = 1.0
    image = np.empty((height, width, c), dtype=np.uint8)
    clamp = float(SYNTH_ACT_CLAMP)
    scale = 255.0 * 2.0**-frac
    for r0 in range(0, height, band):
        r1 = min(height, r0 + band)
        # u = y + conv_a(y) on the band and one row either side (inside the image)
        ua0, ua1 = max(0, r0 - 1), min(height, r1 + 1)
        u = y[:, ua0:ua1] + _conv3x3(y, np.arange(ua0, ua1), ma, cols)
        relu = np.maximum(u, 0.0)
        # out = u + conv_b(relu(u)) on the band: rows relative to the u slab
        rel = np.arange(r0 - ua0, r1 - ua0)
        out = u[:, rel[0] : rel[-1] + 1] + _conv3x3(relu, rel, mb, cols)
        _clip(out, -clamp, clamp, out=out)
        out *= scale
        out += 0.5
        np.floor(out, out=out)
        _clip(out, 0.0, 255.0, out=out)
        image[r0:r1] = out.transpose(1, 2, 0)
    return image


def reconstruct(
    arch: Architecture, modules: list[list[QuantizedLinear]], grids: list[np.ndarray],
    timings: dict[str, float] | None = None,
) -> np.ndarray:
    """Integer latents + quantized networks -> uint8 image (H, W, C), exactly."""
    _, (up,), synth = modules
    h, w = grids[0].shape
    levels = len(grids)
    t0 = _clock()
    z = np.empty((levels + 1, h, w))
    upsample(grids, up.weight, up.e_w, out=z)
    z[levels] = 1.0
    t1 = _clock()
    image = synthesize(synth, z.reshape(levels + 1, h * w), h, w)
    if timings is not None:
        _record(timings, upsampling=(t0, t1), synthesis=(t1, _clock()))
    return image


def _clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)."""
    return time.perf_counter(), time.process_time()


def _record(timings: dict[str, float], **spans: tuple[tuple[float, float], tuple[float, float]]):
    """Store wall time as ``name`` and CPU time as ``name_cpu`` for each (start, end) span."""
    for name, (start, end) in spans.items():
        timings[name] = end[0] - start[0]
        timings[f"{name}_cpu"] = end[1] - start[1]


def decode_sections(sections: Sections, timings: dict[str, float] | None = None) -> np.ndarray:
    """Decode parsed sections to an (H, W, 3) or (H, W) uint8 array.

    ``timings`` (if given) receives wall seconds per stage: ``weights``, ``entropy_decoding``,
    ``upsampling``, ``synthesis`` (and ``reconstruction`` = the last two), and the process's CPU
    seconds of each as ``<stage>_cpu``.
    """
    h = sections.header
    t0 = _clock()
    modules = decode_modules(sections.weights, h.arch.module_shapes())
    validate_modules(modules)
    t1 = _clock()
    shapes = grid_shapes(h.height, h.width, h.arch.levels)
    grids = decode_latents(sections.latents, sections.escapes, shapes, modules[0])
    t2 = _clock()
    image = reconstruct(h.arch, modules, grids, timings)
    t3 = _clock()
    if timings is not None:
        _record(timings, weights=(t0, t1), entropy_decoding=(t1, t2), reconstruction=(t2, t3))
    return image[:, :, 0] if h.channels == 1 else image


def decode_bytes(data: bytes, timings: dict[str, float] | None = None) -> np.ndarray:
    """Decode a complete .lnic file. Every failure is a :class:`BitstreamError`."""
    try:
        return decode_sections(unpack_file(bytes(data)), timings)
    except LnicError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # malformed values that passed the checksum (crafted files)
        log.debug("decoder failure", exc_info=True)
        raise BitstreamError(f"corrupt bitstream ({type(exc).__name__}: {exc})") from exc
