"""Keep large freed buffers in the process instead of handing them back to the kernel.

A training step on a 768x512 image allocates and frees tens of activation tensors of ~63 MB
(393k pixels x 40 hidden channels x 4 bytes). glibc serves every allocation above its mmap
threshold (at most 32 MB) with a fresh ``mmap`` and returns it with ``munmap`` when freed, so
each such tensor page-faults in 15k zero-filled pages, every step: an element-wise pass over
one of them costs about twice as much as over reused memory (benchmarks/training_notes.md).

:func:`keep_large_allocations` tells glibc to serve large blocks from its heap (no ``mmap``)
and to trim the heap only above 1 GiB of free memory at its top, so the step's buffers are
reused from one step to the next. It changes no numerical result, only where memory comes
from; on other C libraries it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30
"""Free memory glibc may keep at the top of its heap before returning it to the system."""

_done = False


def keep_large_allocations() -> bool:
    """Make glibc reuse large freed blocks (once per process). Returns whether it applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    if not ok:
        log.debug("mallopt refused; large allocations keep using mmap")
        return False
    _done = True
    return True
