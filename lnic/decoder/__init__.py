"""The decoder: bitstream -> image, in exact integer arithmetic end to end.

Parsing (integer ARM + fixed table + range decoder, :mod:`lnic.bitstream`) and reconstruction
(:mod:`.upsampling` and :mod:`.synthesis` in fixed point) are both exact, so a file decodes to
the same pixels on every machine and any number of threads. The reconstruction computes the
integers of the model's reference forms (:mod:`lnic.model`), reorganised for speed and memory.

This package imports neither torch nor scipy: decoding needs numpy, numba (optional) and
constriction only.
"""

from lnic.decoder.api import decode_bytes, decode_sections, reconstruct
from lnic.decoder.profiler import Profiler
from lnic.decoder.validation import DEFAULT_MAX_PIXELS, validate_modules

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "Profiler",
    "decode_bytes",
    "decode_sections",
    "reconstruct",
    "validate_modules",
]
