"""Native (C, OpenMP) training kernels for the encoder's networks.

A training step spends most of its time in tiny networks run over hundreds of thousands of
samples: the ARM with the Laplace rate over every latent, the synthesis' per-pixel MLP and its
two 3x3 convolutions, and the upsampling. In torch each layer is a separate pass over memory
and the backward reads the stored activations back; the kernels fuse each MLP's forward, and
its backward with a recomputed forward, over blocks of 64 samples that stay in the L1 cache,
keep tiles of vector accumulators in registers in the dense layers, and run the convolutions
and the upsampling row by row (benchmarks/encode_speed.md has the timings). The torch versions
(:mod:`lnic.encoder.nets`) remain the reference, the tests compare the two, and they are used
where the library cannot be built (no C compiler) or when ``LNIC_NATIVE=0``. Only the encoder
uses these kernels: decoding never depends on them.

:mod:`~lnic.encoder.native.limits` owns the limits the C code is compiled with,
:mod:`~lnic.encoder.native.build` compiles and caches the library, :mod:`~.ops` holds the
calling convention and the quantization proxy, and ``arm_ops``, ``synthesis_ops`` and
``upsampling_ops`` the autograd functions of each network.
"""

from __future__ import annotations

import ctypes
import logging
import os
from functools import cache

log = logging.getLogger(__name__)


def _declare(lib: ctypes.CDLL) -> None:
    """Give every kernel its C signature; each one's last argument is the thread count (but
    ``vector_lanes``, which says how many floats a vector of the build holds)."""
    p, i, n, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_float
    arm_grids_backward = [p, p, i, p, i, n, i, p, f, f, f, p, p, p, p, i, i, i]
    signatures = {
        "arm_rate_forward": [p, p, n, i, i, p, f, f, p, i],
        "arm_rate_backward": [p, p, n, i, i, p, f, f, f, p, p, p, p, i, i, i],
        "arm_rate_grids_forward": [p, p, i, p, i, n, i, p, f, f, p, i],
        "arm_rate_grids_backward": arm_grids_backward,
        "arm_rate_grids_backward_fused": arm_grids_backward,
        "gauss_fill": [p, n, ctypes.c_ulonglong, f, i],
        "mlp2_forward": [p, n, i, i, i, p, p, i],
        "mlp2_backward": [p, n, i, i, i, p, p, p, p, i, i, i],
        "resconv_forward": [p, n, n, i, p, p, i, p, i],
        "resconv_backward": [p, n, n, i, p, i, p, p, p, i],
        "up_forward": [p, n, n, n, n, p, p, i],
        "up_backward": [p, n, n, n, n, p, p, p, p, i],
        "pre_forward": [p, n, n, n, p, p, i],
        "pre_backward": [p, n, n, n, p, p, p, p, i],
        "proxy_forward": [p, p, n, f, p, i],
        "proxy_backward": [p, p, n, f, p, p, i],
        "context_forward": [p, p, i, p, i, p, n, i],
        "context_backward": [p, p, i, p, i, p, n, i],
        "mse_forward": [p, p, n, p, p, i],
        "vector_lanes": [],
    }
    for name, argtypes in signatures.items():
        kernel = getattr(lib, name)
        kernel.argtypes = argtypes
        # the fused backward says whether it ran (0: the chunks were too short for it)
        kernel.restype = i if name in ("arm_rate_grids_backward_fused", "vector_lanes") else None


def _load() -> ctypes.CDLL:
    """The built library, loaded (:func:`lnic.cbuild.load_cached`: one that does not load is
    built once more)."""
    from lnic.cbuild import load_cached
    from lnic.encoder.native.build import FLAGS, UNIT, library_path
    from lnic.encoder.native.limits import defines

    return load_cached(library_path(), UNIT, [*FLAGS, *defines()])


@cache
def library() -> ctypes.CDLL | None:
    """The loaded kernels, or ``None`` (disabled with ``LNIC_NATIVE=0``, or not buildable)."""
    if os.environ.get("LNIC_NATIVE", "1") == "0":
        return None
    from lnic.encoder.native.build import BuildError, NoCompiler

    try:
        lib = _load()
    except NoCompiler:
        log.info("no C compiler found: the encoder uses its torch kernels")
        return None
    except (BuildError, OSError) as exc:
        log.warning("no native training kernels (%s): the encoder uses its torch kernels", exc)
        return None
    _declare(lib)
    return lib
