"""Which decoding loop decodes a file: the C kernels, numba's compiled kernels or the numpy loop.

All three give the same latents. The C kernels (:mod:`lnic.bitstream.c_kernels`) are the
fastest per step and per latent and load in well under a millisecond once built, so the
decoder takes them whenever it can: the first decode on a machine builds them (about a third
of a second, with a C compiler; cached under ``$LNIC_CACHE_DIR``). Without them (no compiler,
``LNIC_NATIVE_DECODE=0``) the choice is between numba's kernels and the numpy loop, as follows.
The numba loop has a lower cost per step than the numpy loop, but using it
first costs importing numba and loading the kernels from its cache, or compiling them when the
cache is cold (:mod:`lnic.bitstream.arm_kernels`); for one decode of a typical image that costs
more than it saves. So the decoder estimates both loops' time from the number of steps and
latents (:data:`COSTS`, measured in ``benchmarks/decoder_limits.md``) and takes the compiled
loop only when it is faster and the saving exceeds what it has left to pay: nothing once the
kernels are loaded in this process, the load from a warm cache, or a compilation. (The compiled
loop wins most on steps of few latents, as in tall or wide images: its fixed cost per step is
half the numpy loop's.) A process that
decodes many files counts the savings the numpy loop forwent, and loads the kernels once they
add up to that price.

``LNIC_DECODE_LOOP=numpy``, ``=compiled`` (numba) or ``=c`` overrides the choice
(``LNIC_NO_NUMBA`` disables numba's kernels altogether, ``LNIC_NATIVE_DECODE=0`` the C ones).
"""

from __future__ import annotations

import logging
import os
from typing import NamedTuple

from lnic.bitstream import arm_kernels, c_kernels
from lnic.bitstream.arm_kernels import Kernels
from lnic.bitstream.c_kernels import CKernels

log = logging.getLogger(__name__)

LOOP_ENV = "LNIC_DECODE_LOOP"


class LoopCosts(NamedTuple):
    """Seconds per step and per latent of each loop, and the compiled loop's start-up."""

    numpy_step: float
    numpy_latent: float
    compiled_step: float
    compiled_latent: float
    warm_start: float
    """Importing numba and loading the kernels from a warm cache."""
    cold_start: float
    """Importing numba and compiling the kernels."""


COSTS = LoopCosts(
    numpy_step=30e-6,
    numpy_latent=0.18e-6,
    compiled_step=15e-6,
    compiled_latent=0.15e-6,
    warm_start=1.0,
    cold_start=4.4,
)
"""Measured on the project's 2-core machine, idle but for the measurement
(``benchmarks/decoder_limits.md``): a 768x512 decode saves ~40 ms with the kernels loaded, so a
process switches after about 25 such images when numba's cache is warm."""


_forgone = 0.0
"""Seconds this process's numpy-loop decodes would have saved with the kernels loaded."""


def saving(n_steps: int, n_latents: int, costs: LoopCosts | None = None) -> float:
    """Seconds the compiled loop saves over the numpy loop, once it is loaded (``costs``:
    :data:`COSTS` unless given)."""
    c = costs or COSTS
    numpy_time = c.numpy_step * n_steps + c.numpy_latent * n_latents
    compiled_time = c.compiled_step * n_steps + c.compiled_latent * n_latents
    return numpy_time - compiled_time


def choose_kernels(
    n_steps: int, n_latents: int, loop: str | None = None
) -> CKernels | Kernels | None:
    """The kernels to decode with (None: the numpy loop) for a pass of ``n_steps`` steps over
    ``n_latents`` latents; ``loop`` (default: ``$LNIC_DECODE_LOOP``; ``auto`` for any value but
    ``numpy``, ``compiled`` and ``c``) forces one loop (the numpy loop where the forced kernels
    are not available)."""
    global _forgone
    loop = loop or os.environ.get(LOOP_ENV) or "auto"
    if loop == "numpy":
        return None
    if loop == "c" or (loop != "compiled" and c_kernels.enabled()):
        native = c_kernels.load()
        if native is not None or loop == "c":
            return native
    if not arm_kernels.AVAILABLE:
        return None
    if loop == "compiled":
        return arm_kernels.load()
    gain = saving(n_steps, n_latents)
    if gain <= 0:
        return None
    if not arm_kernels.loaded():
        _forgone += gain
        # (the cheaper start first: looking at the cache costs an import)
        if _forgone <= COSTS.warm_start:
            return None
        start = COSTS.warm_start if arm_kernels.cache_warm() else COSTS.cold_start
        if _forgone <= start:
            return None
        log.debug("compiled latent loop: saves more than its %.1f s start", start)
    return arm_kernels.load()
