"""Native (C, OpenMP) training kernels for the encoder's networks.

A training step spends most of its time in tiny networks run over hundreds of thousands of
samples: the ARM with the Laplace rate over every latent, the synthesis' per-pixel MLP and its
two 3x3 convolutions, and the upsampling. In torch each layer is a separate pass over memory
and the backward reads the stored activations back; ``kernels.c`` fuses each MLP's forward, and
its backward with a recomputed forward, over blocks of 64 samples that stay in the L1 cache,
and runs the convolutions and the upsampling row by row (a 768x512 step on two threads: 0.19 s
in torch, 0.106 s with the first kernels, 0.06 s since their dense layers keep 4x4 tiles of
vector accumulators in registers; benchmarks/encode_speed.md). The torch versions
(:mod:`lnic.encoder.nets`) remain the reference, the tests compare the two, and they are used
where the library cannot be built (no C compiler) or when ``LNIC_NATIVE=0``. Only the encoder
uses these kernels: decoding never depends on them.
"""

from __future__ import annotations

import ctypes
import logging
import os
from functools import cache

log = logging.getLogger(__name__)


@cache
def library() -> ctypes.CDLL | None:
    """The loaded kernels, or ``None`` (disabled with ``LNIC_NATIVE=0``, or not buildable)."""
    if os.environ.get("LNIC_NATIVE", "1") == "0":
        return None
    from lnic.encoder.native.build import build

    path = build()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        log.warning("could not load %s (%s): the encoder uses its torch kernels", path, exc)
        return None
    ptr, i, lng, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_float
    lib.arm_rate_forward.argtypes = [ptr, ptr, lng, i, i, ptr, f, f, ptr, i]
    lib.arm_rate_backward.argtypes = [ptr, ptr, lng, i, i, ptr, f, f, f, ptr, ptr, ptr, i]
    lib.arm_rate_grids_forward.argtypes = [ptr, ptr, i, ptr, i, lng, i, ptr, f, f, ptr, i]
    lib.arm_rate_grids_backward.argtypes = [
        ptr,
        ptr,
        i,
        ptr,
        i,
        lng,
        i,
        ptr,
        f,
        f,
        f,
        ptr,
        ptr,
        ptr,
        i,
    ]
    lib.arm_rate_grids_backward_fused.argtypes = [
        ptr,
        ptr,
        i,
        ptr,
        i,
        lng,
        i,
        ptr,
        f,
        f,
        f,
        ptr,
        ptr,
        ptr,
        i,
    ]
    lib.arm_rate_grids_backward_fused.restype = i
    lib.gauss_fill.argtypes = [ptr, lng, ctypes.c_ulonglong, f, i]
    lib.mlp2_forward.argtypes = [ptr, lng, i, i, i, ptr, ptr, i]
    lib.mlp2_backward.argtypes = [ptr, lng, i, i, i, ptr, ptr, ptr, ptr, i]
    lib.resconv_forward.argtypes = [ptr, lng, lng, i, ptr, ptr, i, ptr, i]
    lib.resconv_backward.argtypes = [ptr, lng, lng, i, ptr, i, ptr, ptr, ptr, ptr, i]
    lib.up_forward.argtypes = [ptr, lng, lng, lng, lng, ptr, ptr, i]
    lib.up_backward.argtypes = [ptr, lng, lng, lng, lng, ptr, ptr, ptr, ptr, i]
    lib.pre_forward.argtypes = [ptr, lng, lng, lng, ptr, ptr, i]
    lib.pre_backward.argtypes = [ptr, lng, lng, lng, ptr, ptr, ptr, ptr, i]
    lib.proxy_forward.argtypes = [ptr, ptr, lng, f, ptr, i]
    lib.proxy_backward.argtypes = [ptr, ptr, lng, f, ptr, ptr, i]
    lib.context_forward.argtypes = [ptr, ptr, i, ptr, i, ptr, lng, i]
    lib.context_backward.argtypes = [ptr, ptr, i, ptr, i, ptr, lng, i]
    for fn in (
        lib.arm_rate_forward,
        lib.arm_rate_backward,
        lib.arm_rate_grids_forward,
        lib.arm_rate_grids_backward,
        lib.mlp2_forward,
        lib.mlp2_backward,
        lib.resconv_forward,
        lib.resconv_backward,
        lib.up_forward,
        lib.up_backward,
        lib.pre_forward,
        lib.pre_backward,
        lib.proxy_forward,
        lib.proxy_backward,
        lib.context_forward,
        lib.context_backward,
        lib.gauss_fill,
    ):
        fn.restype = None
    return lib
