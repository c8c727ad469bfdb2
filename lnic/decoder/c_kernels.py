"""The synthesis' layers in C (``native/synthesis.c``), loaded on demand: the two 1x1 layers
per block of pixels and the 3x3 convolutions per band, with the same pixels as the numpy
code of :mod:`lnic.decoder.synthesis`, which they replace where the library builds (a C
compiler, once per machine; :class:`lnic.cbuild.NativeLibrary`). The numpy code calls BLAS
on tall, thin matrices and makes a pass over memory per floor and clamp; the kernels keep a
block of pixels' activations in vector registers and floor and clamp them there.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

from lnic import cbuild
from lnic.bitstream.c_kernels import FLAGS

BLOCK = 16
"""Pixels per block: 4 vectors of 4 doubles per output (two outputs at a time in the 1x1
layers: 8 accumulators)."""

SOURCE = Path(__file__).parent / "native" / "synthesis.c"
LIBRARY = cbuild.NativeLibrary("synthesis", SOURCE, [*FLAGS, f"-DBLOCK={BLOCK}"], "synthesis")


class SynthesisKernels(NamedTuple):
    """The entry points (see ``synthesis.c``)."""

    pointwise: ctypes._CFuncPtr
    conv3x3: ctypes._CFuncPtr


_kernels: SynthesisKernels | None = None


def load() -> SynthesisKernels | None:
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
            pointwise.argtypes = [p, i, i, p, i, i, p, i, i, d, d, p, i, i, i, p]
            pointwise.restype = None
            conv = lib.synth_conv3x3
            conv.argtypes = [p, i, i, i, p, i, d, p, i]
            conv.restype = None
            _kernels = SynthesisKernels(pointwise, conv)
    return _kernels
