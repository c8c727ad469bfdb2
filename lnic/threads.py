"""The thread count of the libraries an encode or a decode runs on (torch, OpenMP, BLAS, numba).

The command line sets it from ``--threads``; each batch worker sets it for itself before it
loads the encoder, because the encoder's output depends on the thread count.
"""

from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def set_threads(n: int) -> None:
    """Use ``n`` threads: set the variables torch, OpenMP, BLAS and numba read when they load
    (the heavy imports come after this), and tell those already loaded."""
    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)
    if "numba" not in sys.modules:
        os.environ["NUMBA_NUM_THREADS"] = str(n)
    else:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
