"""Run numpy's BLAS on one thread while the encoder trains.

The only BLAS calls of a training step are SOAP's products of the networks' tiny matrices (at
most 40 x 360), which one thread finishes in microseconds. OpenBLAS, which numpy's wheels
bundle, splits them over as many threads as ``OMP_NUM_THREADS`` asks for and then keeps its
threads spinning for the next call: on a 2-core CPU they take the cores from the OpenMP
threads of the training kernels. On the AMD EPYC (Zen 2) of ``benchmarks/encode_speed.md`` a
two-thread step of kodim01 took 70 ms with OpenBLAS on two threads and 60-65 ms on one.

:func:`serial_blas` limits every loaded OpenBLAS (numpy's, scipy's) for the duration of a
``with`` block; torch's own BLAS and the OpenMP kernels keep their threads. Without
threadpoolctl it does nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def serial_blas() -> Iterator[None]:
    """Within the block, numpy's and scipy's BLAS use one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an install without the encoder's extras: no limit, same results
        log.debug("threadpoolctl is not installed; BLAS keeps its threads")
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
