"""The latent decoding loop's per-step kernels in C (``native/latent_step.c``), loaded on demand.

A step is one call: the ARM with its context gathering and table rows (what the numba kernels
of :mod:`lnic.bitstream.arm_kernels` do, with the same results), the range decoder (the
format's coder, :data:`lnic.format.RANGE_CODER_PRECISION`, decoding the same symbols as
constriction's), and the store of the latents. They cost less than the numba loop at both
ends: the ARM runs on blocks of :data:`BLOCK` latents in vector registers (the numba kernels
call BLAS on matrices of a few hundred columns), no probability row is copied for a Python
range decoder, and a cached library loads in well under a millisecond (numba: about a
second), so even a single image decodes with them. Building them takes a C compiler and
about a third of a second, once per machine (:mod:`lnic.cbuild` caches the library under
``$LNIC_CACHE_DIR``); without a compiler, or with ``LNIC_NATIVE_DECODE=0``, the decoder uses
numba's kernels or its numpy loop (:mod:`.latent_coding.loop_choice`).

The library is compiled without ``-ffast-math``: the kernels' exactness argument (every value
an integer multiple of a power of two below 2^53) needs IEEE arithmetic, which ``-march=native``
vectorisation and fused multiply-adds keep.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

from lnic import cbuild
from lnic.bitstream import arm_kernels
from lnic.format import RANGE_CODER_PRECISION

BLOCK = 16
"""Latents per block of the ARM's layers: 4 vectors of 4 doubles per output, two outputs at a
time (8 accumulators and their inputs fit 16 vector registers)."""

SOURCE = Path(__file__).parent / "native" / "latent_step.c"
EXACT_VEC = Path(__file__).parent / "native" / "exact_vec.h"
"""The vector helpers and dense layer both decoder libraries include."""
FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC"]

_SEGMENT_COLUMNS = {
    "SEG_START": arm_kernels.SEG_START,
    "SEG_ROW": arm_kernels.SEG_ROW,
    "SEG_COL": arm_kernels.SEG_COL,
    "SEG_LAT": arm_kernels.SEG_LAT,
    "SEG_LENGTH": arm_kernels.SEG_LENGTH,
    "SEG_OFFSET": arm_kernels.SEG_OFFSET,
    "SEG_DST": arm_kernels.SEG_DST,
    "SEG_COLUMNS": arm_kernels.SEG_COLUMNS,
}


def defines() -> list[str]:
    """The -D flags that give the C source its block size and the segment table's columns."""
    values = {"BLOCK": BLOCK, "RANGE_CODER_PRECISION": RANGE_CODER_PRECISION, **_SEGMENT_COLUMNS}
    return [f"-D{name}={value}" for name, value in sorted(values.items())]


LIBRARY = cbuild.NativeLibrary(
    "latent-step", SOURCE, [*FLAGS, *defines()], "latent decoding", includes=[EXACT_VEC]
)


class StepParams(ctypes.Structure):
    """The ctypes mirror of ``StepParams`` in ``latent_step.c`` (same fields, same order)."""

    _fields_ = [  # noqa: RUF012 (ctypes reads the class attribute)
        ("x", ctypes.c_void_p),
        ("weights", ctypes.c_void_p),
        ("dims", ctypes.c_void_p),
        ("n_dims", ctypes.c_int64),
        ("scratch", ctypes.c_void_p),
        ("width", ctypes.c_int64),
        ("out_m", ctypes.c_void_p),
        ("n_outputs", ctypes.c_int64),
        ("o", ctypes.c_void_p),
        ("lo", ctypes.c_void_p),
        ("hi", ctypes.c_void_p),
        ("hidden_max", ctypes.c_double),
        ("cells", ctypes.c_void_p),
        ("cols", ctypes.c_int64),
        ("row_vec", ctypes.c_void_p),
        ("cdf", ctypes.c_void_p),
        ("n_rows", ctypes.c_int64),
        ("n_sym", ctypes.c_int64),
        ("row_of", ctypes.c_void_p),
        ("residual", ctypes.c_void_p),
        ("costs", ctypes.c_void_p),
        ("info", ctypes.c_void_p),
    ]


class RangeState(ctypes.Structure):
    """The ctypes mirror of ``RangeState`` in ``latent_step.c``: the range decoder's state."""

    _fields_ = [  # noqa: RUF012 (ctypes reads the class attribute)
        ("lower", ctypes.c_uint64),
        ("range", ctypes.c_uint64),
        ("point", ctypes.c_uint64),
        ("words", ctypes.c_void_p),
        ("n_words", ctypes.c_int64),
        ("pos", ctypes.c_int64),
    ]


class CKernels(NamedTuple):
    """The entry points (see ``latent_step.c``): a whole step; the range decoder's start, end
    and (for the tests) its decoding of given rows; the ARM of latents whose context is known
    (the encoder's exact rate)."""

    step: ctypes._CFuncPtr
    range_init: ctypes._CFuncPtr
    range_exhausted: ctypes._CFuncPtr
    range_decode: ctypes._CFuncPtr
    arm_batch: ctypes._CFuncPtr


_kernels: CKernels | None = None


def enabled() -> bool:
    """Whether the C kernels may be used (``LNIC_NATIVE_DECODE=0`` forbids them, and a build
    that failed once in this process is not tried again)."""
    return LIBRARY.enabled()


def loaded() -> bool:
    return LIBRARY.loaded()


def library_path() -> Path:
    return LIBRARY.path()


def _declare(lib: ctypes.CDLL) -> CKernels:
    p, i = ctypes.c_void_p, ctypes.c_int64
    step = lib.latent_step
    step.argtypes = [p, p, i, i, p, p, p]
    step.restype = i
    init = lib.latent_range_init
    init.argtypes = [p, p, i]
    init.restype = None
    exhausted = lib.latent_range_exhausted
    exhausted.argtypes = [p]
    exhausted.restype = ctypes.c_int
    decode = lib.latent_range_decode
    decode.argtypes = [p, p, i, p, i, p]
    decode.restype = ctypes.c_int
    batch = lib.latent_arm_batch
    batch.argtypes = [p, i, i, p]
    batch.restype = None
    return CKernels(step, init, exhausted, decode, batch)


def load() -> CKernels | None:
    """The kernels (built into the cache first if needed), or None where they cannot be built
    or are switched off."""
    global _kernels
    if not LIBRARY.enabled():
        return None
    if _kernels is None:
        lib = LIBRARY.load()
        _kernels = None if lib is None else _declare(lib)
    return _kernels
