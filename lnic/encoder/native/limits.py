"""The native kernels' limits: this module owns them, the C sources receive them as defines.

Python sizes its buffers and checks its networks by these values, and the kernels size their
stack buffers and loops by the same ones: :func:`defines` hands them to the compiler (``-D``),
so the C code keeps no copy of its own, and the build puts them in its cache key, so a changed
limit builds a new library. The format-derived ones come from the modules that define them.
"""

from __future__ import annotations

from lnic.format import MAX_LEVELS as FORMAT_MAX_LEVELS
from lnic.model.arm import N_CONTEXT
from lnic.model.upsampling import PREFILTER_RADIUS

NCHUNK = 64
"""Fixed chunks over which the kernels sum weight gradients; the caller adds the chunks in
order, so the sums do not depend on the thread count."""

MAX_HIDDEN = 64
"""Widest hidden layer of a per-sample MLP (a block's activations live on the stack)."""

MAX_IN = 32
"""Most input features of a per-sample MLP, and most synthesis outputs."""

MAX_LEVELS = FORMAT_MAX_LEVELS
"""Most latent grids the ARM kernels walk: as many as the format allows."""

LIMITS: dict[str, int] = {
    "NCHUNK": NCHUNK,
    "MAX_HIDDEN": MAX_HIDDEN,
    "MAX_IN": MAX_IN,
    "MAX_LEVELS": MAX_LEVELS,
    "N_CONTEXT": N_CONTEXT,
    "PREFILTER_RADIUS": PREFILTER_RADIUS,
}
"""Every value the C sources take from here, by the name they use."""


def defines() -> list[str]:
    """The compiler flags that define :data:`LIMITS` in the C sources."""
    return [f"-D{name}={value}" for name, value in sorted(LIMITS.items())]
