"""The integer ARM of latents whose context is known, with the C kernels: what the encoder's
exact rate and its range coding evaluate for every latent of an image (many times over, in the
networks' quantization search).

The same folded ARM as the decoder's (:class:`.plan.ArmPlan`, every clamp), its first layer
reading the context columns (:data:`lnic.format.ARM_CONTEXT`, then the co-located coarser
latent) instead of a window, so it gives :func:`lnic.model.arm.arm_integer`'s table indices
(``tests/test_c_range_decoder.py`` compares them on clamp-biting ARMs too).
"""

from __future__ import annotations

import ctypes

import numpy as np

from lnic.bitstream import c_kernels
from lnic.bitstream.c_kernels import BLOCK, StepParams
from lnic.bitstream.latent_coding.compiled_loop import output_bounds
from lnic.bitstream.latent_coding.plan import N_OUTPUTS, ArmPlan, kernel_layers
from lnic.bitstream.latent_coding.window import CELLS, CENTRE, CONTEXT_COLUMNS
from lnic.cbuild import address
from lnic.model.quantized import QuantizedLinear

_CONTEXT_CELLS = [*CONTEXT_COLUMNS, CENTRE, CELLS]
"""The window cells of the context values, in :func:`lnic.model.arm.gather_context`'s order,
then the constant one."""


class BatchArm:
    """``(mu_q, scale_idx)`` of latents from their [n, N_CONTEXT] context rows."""

    def __init__(self, kernels: c_kernels.CKernels, arm: list[QuantizedLinear]) -> None:
        layers = kernel_layers(ArmPlan.fold(arm).reading(_CONTEXT_CELLS))
        self.weights, self.dims, self.output, self.width = layers
        self.scratch = np.zeros(3 * self.width * BLOCK)
        self.lo, self.hi, self.hidden_max, _ = output_bounds(True)
        self.kernels = kernels

    def __call__(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = context.shape[0]
        ldx = -(-n // BLOCK) * BLOCK
        x = np.zeros((int(self.dims[0]), ldx))
        x[:-1, :n] = context.T
        x[-1] = 1.0
        o = np.empty((N_OUTPUTS, n))
        params = StepParams(
            weights=address(self.weights),
            dims=address(self.dims),
            n_dims=len(self.dims),
            scratch=address(self.scratch),
            width=self.width,
            out_m=address(self.output),
            n_outputs=N_OUTPUTS,
            o=address(o),
            lo=address(self.lo),
            hi=address(self.hi),
            hidden_max=self.hidden_max,
        )
        self.kernels.arm_batch(address(x), ldx, n, ctypes.addressof(params))
        return o[0].astype(np.int64), o[2].astype(np.int64)


def batch_arm(arm: list[QuantizedLinear]) -> BatchArm | None:
    """The C form of ``arm`` for known contexts, or None where the C kernels are not available
    (the caller then uses :func:`lnic.model.arm.arm_integer`)."""
    kernels = c_kernels.load()
    return None if kernels is None else BatchArm(kernels, arm)
