"""The decoder's pixel stages in C (``native/pixels.c``), loaded on demand: the pre-filter,
the upsampling's column and row passes, the synthesis' two 1x1 layers per block of pixels and
its 3x3 convolutions per band, with the same pixels as the numpy code of
:mod:`lnic.decoder.upsampling` and :mod:`lnic.decoder.synthesis`, which they replace where the
library builds (a C compiler, once per machine; :class:`lnic.cbuild.NativeLibrary`). The numpy
code calls BLAS on tall, thin or banded matrices and makes a pass over memory per floor and
clamp; the kernels keep a block of pixels' values in vector registers and floor and clamp them
there.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

from lnic import cbuild
from lnic.bitstream.c_kernels import EXACT_VEC, FLAGS

BLOCK = 16
"""Pixels per block: 4 vectors of 4 doubles per output (two outputs at a time in the 1x1
layers: 8 accumulators)."""

SOURCE = Path(__file__).parent / "native" / "pixels.c"
LIBRARY = cbuild.NativeLibrary(
    "pixels",
    SOURCE,
    [*FLAGS, "-fopenmp", f"-DBLOCK={BLOCK}"],
    "pixel stages",
    includes=[EXACT_VEC],
)
"""Built with OpenMP: each stage splits its rows or blocks over ``OMP_NUM_THREADS`` threads (the
command line's ``--threads``); every output is computed whole by one thread, so any thread
count gives the same pixels."""


class PixelKernels(NamedTuple):
    """The entry points (see ``pixels.c``)."""

    pointwise: ctypes._CFuncPtr
    conv3x3: ctypes._CFuncPtr
    up_rows: ctypes._CFuncPtr
    up_columns: ctypes._CFuncPtr
    prefilter_axis: ctypes._CFuncPtr


_kernels: PixelKernels | None = None


def load() -> PixelKernels | None:
    """The kernels (built into the cache first if needed), or None where they cannot be built
    or are switched off (``LNIC_NATIVE_DECODE=0``)."""
    global _kernels
    if not LIBRARY.enabled():
        return None
    if _kernels is None:
        lib = LIBRARY.load()
        if lib is not None:
            p, i, d = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
            pointwise = lib.synth_pointwise
            pointwise.argtypes = [p, i, i, p, i, i, p, i, i, d, d, p, i, i, i]
            pointwise.restype = None
            conv = lib.synth_conv3x3
            conv.argtypes = [p, i, i, i, p, i, d, p, i]
            conv.restype = None
            up_rows = lib.up_rows
            up_rows.argtypes = [p, i, i, i, i, i, p, i, i, p, i, i, d]
            up_rows.restype = None
            up_columns = lib.up_columns
            up_columns.argtypes = [p, i, i, i, p, i, p, i, d]
            up_columns.restype = None
            prefilter_axis = lib.prefilter_axis
            prefilter_axis.argtypes = [p, i, i, i, p, i, d, p, d]
            prefilter_axis.restype = None
            _kernels = PixelKernels(pointwise, conv, up_rows, up_columns, prefilter_axis)
    return _kernels
