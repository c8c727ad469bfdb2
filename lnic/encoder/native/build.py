"""Compile the training kernels once per machine into a cached shared library (gcc, OpenMP).

:mod:`lnic.cbuild` does the compiling and caching (keyed by a hash of the C sources, the flags,
the limits of :mod:`lnic.encoder.native.limits` and the CPU's feature flags; checksummed,
renamed into place; :func:`lnic.cbuild.load_cached` builds and loads); this module names the
kernels' sources and flags.
"""

from __future__ import annotations

from pathlib import Path

from lnic.cbuild import (  # noqa: F401  (the names the encoder and its tests use from here)
    BuildError,
    NoCompiler,
    cpu_flags,
    is_intact,
)
from lnic.cbuild import library_path as _cached_library_path
from lnic.encoder.native.limits import defines

SOURCE_DIR = Path(__file__).parent
UNIT = SOURCE_DIR / "kernels.c"
"""The one translation unit gcc compiles (it includes the per-network sources)."""
FLAGS = [
    "-O3",
    "-march=native",
    "-mprefer-vector-width=512",
    "-ffast-math",
    "-fopenmp",
    "-shared",
    "-fPIC",
]
"""``-mprefer-vector-width=512``: the kernels compute in 16-float vectors, which gcc's tuning for
Intel's AVX-512 server cores (``-march=native`` on an Ice Lake Xeon) splits into two 256-bit
halves; whole 512-bit registers make a training step ~18% shorter there. A CPU without AVX-512
ignores the preference (AVX2's 256 bits are its widest)."""


def sources() -> list[Path]:
    """Every C file the library is built from: the unit and what it includes."""
    return sorted([*SOURCE_DIR.glob("*.c"), *SOURCE_DIR.glob("*.h")])


def library_path() -> Path:
    return _cached_library_path("kernels", sources(), [*FLAGS, *defines()])
