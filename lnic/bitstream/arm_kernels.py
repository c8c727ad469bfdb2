"""Compiled kernels for the latent decoder's per-step work (numba).

The range decoder needs the integer ARM's table rows one step (wavefront) at a time: 1,796 steps
for a 768x512 image, each a few hundred latents. Done with numpy, one step is ~18 calls whose
fixed cost (~1.5 us each) is most of the entropy-decoding time. :func:`arm_step` does a step's
whole ARM in one call: gather the context window, the hidden layers (float64 products of
integers: exact, so any summation order gives the same bits), floors, ReLUs and clamps, the table
row and the copy of that row's probabilities for the range coder. :func:`store_step` then adds the
decoded residuals to the predicted means. The arithmetic is that of the numpy loop,
:mod:`lnic.bitstream.latent_coding.numpy_loop` (``tests/test_latent_kernels.py`` compares the
two). The kernels take every size from their arguments, so they hold no copy of a format limit.

numba is a dependency but optional at run time: if it cannot be imported or compile (or
``LNIC_NO_NUMBA`` is set), :data:`AVAILABLE` is False and the decoder uses its numpy loop. The
kernels are compiled when this module is imported (from the first decode on, lazily) and cached
next to it (or in numba's user cache directory): the first import ever takes ~2 s, later ones
about 0.3 s (mostly importing numba).
"""

from __future__ import annotations

import logging
import os

import numpy as np

log = logging.getLogger(__name__)

try:
    if os.environ.get("LNIC_NO_NUMBA"):
        raise ImportError("LNIC_NO_NUMBA is set")
    from numba import njit
except ImportError as exc:  # pragma: no cover - exercised with LNIC_NO_NUMBA
    log.debug("numba unavailable (%s): numpy latent decoding", exc)
    AVAILABLE = False
else:
    AVAILABLE = True


SEG_START, SEG_STRIDE, SEG_LENGTH, SEG_OFFSET, SEG_DST = range(5)
"""Columns of a segment table: one row per wavefront-major segment of a step (one grid's
wavefront): its window anchor in ``storage``, the grid's cells per wavefront, its latents, its
first column among the step's latents and the cell of its first latent in ``storage``."""
SEG_COLUMNS = 5


def _arm_step(storage, segs, n, window, x_buf, layers, scratch, out_m, o_buf, bounds, tables):
    """One step's ARM on its ``n`` latents; returns False if a table row is out of range.

    Context: ``window`` is ``(rows, cols, row_step)``. For each segment of ``segs`` (a segment
    table, :data:`SEG_COLUMNS`), window cell ``(r, c)`` of its latent ``i`` is
    ``storage[start + r (row_step stride + 1) + c stride + i]``, copied to row ``r cols + c``,
    column ``offset + i`` of ``x`` = ``x_buf`` as [rows cols + 1, n] (its last row is set to
    ones; columns of raster-layout segments, not in ``segs``, were filled by the caller).
    ``layers``/``scratch``: the folded hidden layers and flat buffers for their [out, n] outputs;
    ``out_m`` [outputs, in] gives ``o`` = ``o_buf`` as [outputs, n] (mu_q, m_int, scale_idx).
    ``bounds`` is ``(lo, hi, hidden_max)``: the outputs are clipped to ``lo``/``hi`` per row,
    hidden activations to [0, hidden_max]. ``tables`` is ``(row_vec, table, prob_buf)``:
    ``prob_buf`` as [n, symbols] receives ``table[row_j]`` with ``row_j = row_vec . o[:, j]``
    (out of the table only for a diverging pass on a corrupt stream, or one without the clamps).
    """
    rows, cols, row_step = window
    lo, hi, hidden_max = bounds
    row_vec, table, prob_buf = tables
    k_in = rows * cols + 1
    x = x_buf[: k_in * n].reshape(k_in, n)
    for k in range(segs.shape[0]):
        start, stride = segs[k, SEG_START], segs[k, SEG_STRIDE]
        m, off = segs[k, SEG_LENGTH], segs[k, SEG_OFFSET]
        for r in range(rows):
            for c in range(cols):
                src = start + r * (row_step * stride + 1) + c * stride
                dst = x[r * cols + c]
                dst[off : off + m] = storage[src : src + m]  # (a slice: a vector copy)
    for j in range(n):
        x[k_in - 1, j] = 1.0
    cur = x
    for i in range(len(layers)):
        width = layers[i].shape[0]
        h = scratch[i][: width * n].reshape(width, n)
        np.dot(layers[i], cur, h)
        flat = scratch[i]
        for j in range(width * n):
            flat[j] = min(max(np.floor(flat[j]), 0.0), hidden_max)
        cur = h
    n_out = out_m.shape[0]
    o = o_buf[: n_out * n].reshape(n_out, n)
    np.dot(out_m, cur, o)
    for r in range(n_out):
        a, b = lo[r], hi[r]
        row_o = o_buf[r * n : (r + 1) * n]
        for j in range(n):
            row_o[j] = min(max(np.floor(row_o[j]), a), b)
    n_sym = table.shape[1]
    probs = prob_buf[: n * n_sym].reshape(n, n_sym)
    n_rows = table.shape[0]
    for j in range(n):
        v = 0.0
        for r in range(n_out):
            v += row_vec[r] * o[r, j]
        if not (0.0 <= v < n_rows):
            return False
        row = int(v)
        for s in range(n_sym):
            probs[j, s] = table[row, s]
    return True


def _store_step(sym, residual, o_buf, n, storage, segs):
    """For each segment of ``segs``: ``storage[dst + i] = residual[sym[offset + i]] +
    m_int[offset + i]`` with ``m_int`` = row 1 of ``o_buf`` as [outputs, n]; returns the largest
    symbol of the step (raster segments, not in ``segs``, included)."""
    top = 0
    for j in range(n):
        if sym[j] > top:
            top = sym[j]
    for k in range(segs.shape[0]):
        m, off, dst = segs[k, SEG_LENGTH], segs[k, SEG_OFFSET], segs[k, SEG_DST]
        for i in range(m):
            storage[dst + i] = residual[sym[off + i]] + o_buf[n + off + i]
    return top


def _warm_up() -> None:
    """Compile (or load from the cache) both kernels on a tiny step of the argument types the
    decoder passes."""
    storage = np.zeros(64)
    segs = np.array([[8, 4, 2, 0, 40]], dtype=np.int64)
    layers = (np.zeros((3, 16)), np.zeros((3, 3)))
    scratch = (np.zeros(6), np.zeros(6))
    o_buf = np.zeros(6)
    bounds = (np.zeros(3), np.ones(3), 1.0)
    table = np.full((4, 3), 1.0 / 3.0, dtype=np.float32)
    table.setflags(write=False)  # as the decoder's table (another type for numba)
    tables = (np.zeros(3), table, np.zeros(6, dtype=np.float32))
    arm_step(
        storage,
        segs,
        2,
        (3, 5, 1),
        np.zeros(32),
        layers,
        scratch,
        np.zeros((3, 3)),
        o_buf,
        bounds,
        tables,
    )
    store_step(np.zeros(2, dtype=np.int32), np.zeros(3), o_buf, 2, storage, segs)


arm_step = store_step = None
if AVAILABLE:
    try:
        arm_step = njit(cache=True, nogil=True, boundscheck=False)(_arm_step)
        store_step = njit(cache=True, nogil=True, boundscheck=False)(_store_step)
        _warm_up()
    except Exception as exc:  # no cache directory, no working compiler: the numpy loop
        log.warning("numba kernels unavailable (%s): slower numpy latent decoding", exc)
        AVAILABLE = False
