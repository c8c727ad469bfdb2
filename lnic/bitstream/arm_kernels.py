"""Compiled kernels for the latent decoder's per-step work (numba), loaded on demand.

The range decoder needs the integer ARM's table rows one step (wavefront) at a time: 1,796 steps
for a 768x512 image, each a few hundred latents. Done with numpy, one step is ~18 calls whose
fixed cost (~1.5 us each) is most of the entropy-decoding time. :func:`_arm_step` does a step's
whole ARM in one call: gather the context windows, the hidden layers (float64 products of
integers: exact, so any summation order gives the same bits), floors, ReLUs and clamps, the table
row and the copy of that row's probabilities for the range coder. :func:`_store_step` then adds
the decoded residuals to the predicted means. The arithmetic is that of the numpy loop,
:mod:`lnic.bitstream.latent_coding.numpy_loop` (``tests/test_latent_kernels.py`` compares the
two). The kernels take every size from their arguments, so they hold no copy of a format limit,
and one compilation serves every ARM depth and width (the layers come as one flat array).

The products are ``np.dot`` (BLAS: 3-4x faster per layer than loops, whose accumulators numba
cannot keep in registers). numba reaches BLAS through scipy, which numba imports anyway when it
is installed; without scipy (a decode-only install) the kernels compile with the products as
loops, into their own cache folder. On float64 integers below 2**53 every summation order gives
the same values, so both give the same bits.

numba is a dependency but optional at run time. Importing it, and compiling the kernels (a few
seconds) or loading them from numba's cache, costs more than the numpy loop needs for a typical
single image, so the decoder chooses per call (:mod:`lnic.bitstream.latent_coding.loop_choice`)
and calls :func:`load` only when the kernels pay for themselves. numba caches them in
``$LNIC_CACHE_DIR/numba`` (default ``~/.cache/lnic/numba``; an explicit ``NUMBA_CACHE_DIR``
wins), never in the installed package; a marker file there records that this version of the
kernels compiled, so :func:`cache_warm` can tell without importing numba.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

log = logging.getLogger(__name__)

SEG_START, SEG_ROW, SEG_COL, SEG_LAT, SEG_LENGTH, SEG_OFFSET, SEG_DST = range(7)
"""Columns of a segment table: one row per segment of a step (one grid's wavefront): the anchor
of its first latent's context window in ``storage``, the window's row and column strides and the
stride between its latents (cells), its latents, its first column among the step's latents and
the cell of its first latent in ``storage``."""
SEG_COLUMNS = 7


def _gather(storage, segs, x, rows, cols):
    """Window cell ``(r, c)`` of latent ``i`` of each segment into row ``r cols + c``, column
    ``offset + i`` of ``x``."""
    for k in range(segs.shape[0]):
        start, m, off = segs[k, SEG_START], segs[k, SEG_LENGTH], segs[k, SEG_OFFSET]
        row, col, lat = segs[k, SEG_ROW], segs[k, SEG_COL], segs[k, SEG_LAT]
        for r in range(rows):
            for c in range(cols):
                src = start + r * row + c * col
                dst = x[r * cols + c]
                for i in range(m):
                    dst[off + i] = storage[src + i * lat]


def _layer_blas(w, x, out, lo, hi):
    """``out = clip(floor(w @ x), lo, hi)`` row by row (``lo``/``hi``: one per output row)."""
    np.dot(w, x, out)
    n = x.shape[1]
    for o in range(w.shape[0]):
        acc = out[o]
        a, b = lo[o], hi[o]
        for j in range(n):
            acc[j] = min(max(np.floor(acc[j]), a), b)


def _layer_loops(w, x, out, lo, hi):
    """:func:`_layer_blas` without BLAS: the products as loops (where scipy is missing)."""
    n = x.shape[1]
    for o in range(w.shape[0]):
        acc = out[o]
        acc[:] = 0.0
        for i in range(w.shape[1]):
            wt = w[o, i]
            if wt != 0.0:  # (the first layer's window has cells outside the context)
                src = x[i]
                for j in range(n):
                    acc[j] += wt * src[j]
        a, b = lo[o], hi[o]
        for j in range(n):
            acc[j] = min(max(np.floor(acc[j]), a), b)


_layer = _layer_loops
"""The layer :func:`_arm_step` calls (by this name; :func:`_compile` binds the compiled form of
:func:`_layer_blas` or :func:`_layer_loops`)."""


def _fill_probs(o, row_vec, table, probs):
    """``probs[j] = table[row_vec . o[:, j]]``; False if a row falls outside the table."""
    n_rows, n_sym = table.shape
    for j in range(o.shape[1]):
        v = 0.0
        for r in range(o.shape[0]):
            v += row_vec[r] * o[r, j]
        if not (0.0 <= v < n_rows):
            return False
        row_j = int(v)
        for s in range(n_sym):
            probs[j, s] = table[row_j, s]
    return True


def _arm_step(storage, segs, n, x_buf, weights, dims, scratch, out_m, o_buf, bounds, tables):
    """One step's ARM on its ``n`` latents; returns False if a table row is out of range.

    Context: for each segment of ``segs`` (a segment table, :data:`SEG_COLUMNS`), window cell
    ``(r, c)`` of its latent ``i`` is ``storage[start + r row + c col + i lat]``, copied to row
    ``r cols + c``, column ``offset + i`` of ``x`` = ``x_buf`` as [dims[0], n] (``dims[0] - 1``
    window cells in ``rows`` rows, then a row of ones). Hidden layer ``i`` is ``weights`` from
    the sum of the earlier layers' sizes on, as [dims[i + 1], dims[i]]; ``scratch`` holds two
    [max width, n] buffers for their outputs. ``out_m`` [outputs, dims[-1]] gives ``o`` =
    ``o_buf`` as [outputs, n] (mu_q, m_int, scale_idx). ``bounds`` is ``(lo, hi, hidden_max,
    rows)``: the outputs are clipped to ``lo``/``hi`` per row, hidden activations to [0,
    hidden_max]. ``tables`` is ``(row_vec, table, prob_buf)``: ``prob_buf`` as [n, symbols]
    receives ``table[row_j]`` with ``row_j = row_vec . o[:, j]`` (out of the table only for a
    diverging pass on a corrupt stream, or one without the clamps).
    """
    lo, hi, hidden_max, rows = bounds
    row_vec, table, prob_buf = tables
    k_in = dims[0]
    x = x_buf[: k_in * n].reshape(k_in, n)
    _gather(storage, segs, x, rows, (k_in - 1) // rows)
    x[k_in - 1, :] = 1.0
    cur = x
    w0 = 0
    half = scratch.shape[0] // 2
    width = int(dims.max())
    zeros, tops = np.zeros(width), np.full(width, hidden_max)
    for layer in range(dims.shape[0] - 1):
        n_in, n_out = dims[layer], dims[layer + 1]
        w = weights[w0 : w0 + n_out * n_in].reshape(n_out, n_in)
        at = (layer % 2) * half
        h = scratch[at : at + n_out * n].reshape(n_out, n)
        _layer(w, cur, h, zeros, tops)
        w0 += n_in * n_out
        cur = h
    n_out = out_m.shape[0]
    o = o_buf[: n_out * n].reshape(n_out, n)
    _layer(out_m, cur, o, lo, hi)
    n_sym = table.shape[1]
    return _fill_probs(o, row_vec, table, prob_buf[: n * n_sym].reshape(n, n_sym))


def _store_step(sym, residual, o_buf, n, storage, segs, probs, costs, info):
    """For each segment of ``segs``: ``storage[dst + i lat] = residual[sym[offset + i]] +
    m_int[offset + i]`` with ``m_int`` = row 1 of ``o_buf`` as [outputs, n]; adds the decoded
    symbols' information content to ``info[0]`` (``costs`` indexed by the frequency of the
    symbol's probability in ``probs`` as [n, symbols], ``costs`` having 2^bits + 1 entries);
    returns the largest symbol of the step."""
    top = 0
    n_sym = residual.shape[0]
    scale = float(costs.shape[0] - 1)
    bits = 0.0
    for j in range(n):
        s = sym[j]
        if s > top:
            top = s
        bits += costs[int(probs[j * n_sym + s] * scale)]
    info[0] += bits
    for k in range(segs.shape[0]):
        m, off, dst = segs[k, SEG_LENGTH], segs[k, SEG_OFFSET], segs[k, SEG_DST]
        lat = segs[k, SEG_LAT]
        for i in range(m):
            storage[dst + i * lat] = residual[sym[off + i]] + o_buf[n + off + i]
    return top


class Kernels(NamedTuple):
    """The compiled kernels (see :func:`_arm_step` and :func:`_store_step`)."""

    arm_step: Callable[..., bool]
    store_step: Callable[..., int]


AVAILABLE = not os.environ.get("LNIC_NO_NUMBA") and importlib.util.find_spec("numba") is not None
"""Whether the kernels may be used: numba is installed and ``LNIC_NO_NUMBA`` unset (found without
importing numba). False after a failed :func:`load`; setting it False forces the numpy loop."""

_loaded: Kernels | None = None


def loaded() -> bool:
    """Whether this process has the kernels in memory already (using them costs nothing more)."""
    return _loaded is not None


def cache_dir() -> Path:
    """Where numba caches the kernels (unless ``NUMBA_CACHE_DIR`` says otherwise)."""
    root = os.environ.get("LNIC_CACHE_DIR") or Path.home() / ".cache" / "lnic"
    return Path(root) / "numba"


def _marker() -> Path:
    """The file that records a successful compilation of these kernels with this numba."""
    import importlib.metadata  # (tens of milliseconds: only when the kernels may be used)

    key = hashlib.sha256(Path(__file__).read_bytes())
    try:
        key.update(importlib.metadata.version("numba").encode())
    except importlib.metadata.PackageNotFoundError:
        pass
    key.update(f"{sys.version_info[:2]} {os.environ.get('NUMBA_CACHE_DIR', '')}".encode())
    try:  # (the BLAS and the loop kernels are cached apart: see _compile)
        scipy = importlib.util.find_spec("scipy") is not None
    except (ImportError, ValueError):
        scipy = False
    key.update(b"blas" if scipy else b"loops")
    return cache_dir() / f"ready-{key.hexdigest()[:16]}"


def cache_warm() -> bool:
    """Whether the kernels were compiled into the cache before (loading them then takes about
    a second instead of several)."""
    try:
        return _marker().exists()
    except OSError:
        return False


def load() -> Kernels | None:
    """The compiled kernels (compiled, or loaded from numba's cache, on first use); None if numba
    is missing, disabled or fails (the decoder then uses its numpy loop)."""
    global _loaded, AVAILABLE
    if not AVAILABLE:
        return None
    if _loaded is not None:
        return _loaded
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba's own warnings are not the user's business
            _loaded = _compile()
    except Exception as exc:  # no cache directory, no working compiler: the numpy loop
        log.info("numba kernels unavailable (%s): numpy latent decoding", exc)
        AVAILABLE = False
        return None
    try:
        marker = _marker()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError as exc:  # a read-only home: the kernels work, the next process compiles again
        log.info("cannot record the numba cache (%s)", exc)
    return _loaded


def _has_blas() -> bool:
    """Whether numba can call BLAS (it needs scipy's BLAS wrappers)."""
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (numba imports it anyway if installed)
    except ImportError:
        return False
    return True


def _compile() -> Kernels:
    import numba
    from numba.core import config

    blas = _has_blas()
    if not config.CACHE_DIR:
        cache = cache_dir() / ("blas" if blas else "loops")
        cache.mkdir(parents=True, exist_ok=True)
        config.CACHE_DIR = str(cache)
    njit = numba.njit(cache=True, nogil=True, boundscheck=False)
    # numba resolves the functions _arm_step calls by their global names when it compiles it:
    # those names now stand for their compiled forms (the Python forms are not callable there)
    module = globals()
    module["_layer"] = _layer_blas if blas else _layer_loops
    for helper in ("_gather", "_layer", "_fill_probs"):
        module[helper] = njit(module[helper])
    kernels = Kernels(njit(_arm_step), njit(_store_step))
    _warm_up(kernels)
    return kernels


def _warm_up(kernels: Kernels) -> None:
    """Compile (or load from the cache) both kernels on a tiny step of the argument types the
    decoder passes."""
    storage = np.zeros(64)
    segs = np.array([[8, 4, 1, 1, 2, 0, 40]], dtype=np.int64)
    dims = np.array([7, 3, 3], dtype=np.int64)
    weights = np.zeros(7 * 3 + 3 * 3)
    o_buf = np.zeros(6)
    bounds = (np.zeros(3), np.ones(3), 1.0, 2)
    table = np.full((4, 3), 1.0 / 3.0, dtype=np.float32)
    table.setflags(write=False)  # as the decoder's table (another type for numba)
    tables = (np.zeros(3), table, np.zeros(6, dtype=np.float32))
    kernels.arm_step(
        storage, segs, 2, np.zeros(14), weights, dims, np.zeros(12), np.zeros((3, 3)), o_buf,
        bounds, tables,
    )  # fmt: skip
    costs = np.zeros(5)
    costs.setflags(write=False)  # as the decoder's cost table
    kernels.store_step(
        np.zeros(2, dtype=np.int32), np.zeros(3), o_buf, 2, storage, segs, tables[2], costs,
        np.zeros(1),
    )  # fmt: skip
