"""The integer ARM folded into float64 matrices that act on the decoder's context window.

Every layer ``floor((x . W + b') / 2^e)`` is computed as ``floor(x . (W / 2^e) + b'')`` with the
power-of-two scale and the rounding offset folded into the weights and a constant-one input.
That is exact: scaling by a power of two commutes with float64 rounding, and every value stays an
integer multiple of 2^-e far below 2^53. The output layer directly produces ``mu_q``, ``m_int``
and ``scale_idx`` (``floor(floor(a) / n) = floor(a / n)``; clamps commute with these monotone
maps), so a latent's table row is one dot product (:data:`ROW_WEIGHTS`) and its value one lookup
and one addition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from lnic.bitstream.latent_coding.window import CELLS, CENTRE, CONTEXT_COLUMNS
from lnic.format import (
    ARM_ACT_CLAMP,
    ARM_ACT_FRAC_BITS,
    ARM_CONTEXT,
    LATENT_CLAMP,
    LOG_SCALE_MIN,
    LOG_SCALE_STEP_BITS,
    MU_FRAC_BITS,
    N_SCALES,
)
from lnic.model.quantized import QuantizedLinear

_MU_SHIFT = ARM_ACT_FRAC_BITS - MU_FRAC_BITS
_MU_Q_MAX = (ARM_ACT_CLAMP + (1 << (_MU_SHIFT - 1))) >> _MU_SHIFT
_MU_Q_MIN = (-ARM_ACT_CLAMP + (1 << (_MU_SHIFT - 1))) >> _MU_SHIFT
OUT_LO = np.array([_MU_Q_MIN, _MU_Q_MIN >> MU_FRAC_BITS, 0.0])
"""Lower bounds of the outputs ``mu_q``, ``m_int`` and ``scale_idx`` (the spec's clamps)."""
OUT_HI = np.array([_MU_Q_MAX, _MU_Q_MAX >> MU_FRAC_BITS, N_SCALES - 1.0])
"""Upper bounds of the outputs."""
N_OUTPUTS = len(OUT_LO)

ROW_WEIGHTS = np.array([1.0, -float(1 << MU_FRAC_BITS), float(1 << MU_FRAC_BITS)])
"""Row of the coder's table from the outputs: ``scale_idx * 16 + (mu_q & 15)`` =
``mu_q - 16 m_int + 16 scale_idx`` (:func:`.symbols.table_rows`)."""

if not float(LOG_SCALE_MIN * 2.0**ARM_ACT_FRAC_BITS).is_integer():
    raise AssertionError("LOG_SCALE_MIN is not a multiple of 2^-ARM_ACT_FRAC_BITS")


@dataclass(frozen=True, eq=False)
class ArmPlan:
    """The folded ARM: its layers act on columns of ``[window cells | one]``."""

    hidden: tuple[np.ndarray, ...]
    """``[out + 1, in + 1]`` matrices; the extra row and column carry the constant one that
    applies the biases (the first layer's columns follow the window, :mod:`.window`)."""
    output: np.ndarray
    """``[N_OUTPUTS, in + 1]``: ``mu_q``, ``m_int`` and ``scale_idx`` before their floor."""

    @classmethod
    def fold(cls, arm: list[QuantizedLinear]) -> ArmPlan:
        """The plan of the integer ARM ``arm`` (its layers in order)."""
        frac = ARM_ACT_FRAC_BITS
        hidden = []
        n_in = CELLS + 1
        for i, layer in enumerate(arm):
            w = np.asarray(layer.weight, dtype=np.float64)
            b = np.asarray(layer.bias, dtype=np.float64)
            scale = 2.0 ** -int(layer.e_w)
            # acc / 2^e_w with acc = x . W + b * 2^(frac + e_w - e_b), then + 1/2 (rounding)
            bias = b * 2.0 ** (frac - int(layer.e_b))
            if i == 0:
                w = _window_weights(w * 2.0**frac)
            if i == len(arm) - 1:
                return cls(tuple(hidden), _output_matrix(w * scale, bias + 0.5))
            m = np.zeros((w.shape[0] + 1, n_in))
            m[:-1, :-1] = w * scale
            m[:-1, -1] = bias + 0.5
            m[-1, -1] = 1.0  # the constant one, passed on to the next layer
            hidden.append(m)
            n_in = m.shape[0]
        raise ValueError("an ARM has at least one layer")

    def reading(self, columns: np.ndarray | list[int]) -> ArmPlan:
        """The same ARM with its first layer's inputs cut to ``columns`` (window cells and the
        constant one, in the order the caller gives them its inputs): the C kernels then read
        only what the first layer weighs."""
        if self.hidden:
            return ArmPlan((self.hidden[0][:, columns], *self.hidden[1:]), self.output)
        return ArmPlan((), self.output[:, columns])

    def clamps_may_bite(self, largest: float) -> bool:
        """Whether any clamp of the ARM (hidden activations to +-2^22, and ``mu_q`` / ``m_int``)
        can change a value when no ARM input exceeds ``largest`` in magnitude (a bound through
        the layers; ``scale_idx`` is always clipped).

        The decoder first runs without them (ReLU alone is a cheaper call than a clip, and so is
        clipping scale_idx alone) and checks this at the end with the largest decoded latent: if
        no clamp could bite for inputs that small, none did, since up to the first step where
        one would have, the latents were exact (and no larger). The table row stays valid either
        way: ``mu_q - 16 m_int`` is in 0..15.
        """
        bound = np.append(np.full(CELLS, float(largest)), 1.0)
        for m in self.hidden:
            bound = np.abs(m) @ bound + 1.0  # +1: the floor
            if bound.max() > ARM_ACT_CLAMP:
                return True
        mu = float(np.abs(self.output[0]) @ bound) + 1.0
        return not mu < min(-OUT_LO[0], OUT_HI[0])

    def clamp_free_bound(self) -> int:
        """The largest input magnitude (up to LATENT_CLAMP) for which no clamp can bite."""
        lo, hi = 0, LATENT_CLAMP
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if not self.clamps_may_bite(mid) else (lo, mid - 1)
        return lo


class KernelLayers(NamedTuple):
    """A folded ARM as the C kernels take it (``StepParams``' weights, dims, out_m and width)."""

    weights: np.ndarray
    """The hidden layers' matrices, flattened one after the other."""
    dims: np.ndarray
    """The inputs of each hidden layer, then the last one's outputs (int64)."""
    output: np.ndarray
    """The output matrix, contiguous."""
    width: int
    """The widest layer (at least the outputs): the scratch blocks' rows."""


def kernel_layers(plan: ArmPlan) -> KernelLayers:
    """:class:`KernelLayers` of ``plan`` (one whose first layer reads its inputs as given)."""
    first = plan.hidden[0] if plan.hidden else plan.output
    dims = np.array([first.shape[1]] + [m.shape[0] for m in plan.hidden], dtype=np.int64)
    weights = np.concatenate([m.ravel() for m in plan.hidden] + [np.zeros(0)])
    width = int(max(dims[1:].max(initial=0), N_OUTPUTS))
    return KernelLayers(weights, dims, np.ascontiguousarray(plan.output), width)


def _window_weights(w: np.ndarray) -> np.ndarray:
    """First-layer weights [out, N_CONTEXT] spread over the window's cells."""
    out = np.zeros((w.shape[0], CELLS))
    for j, col in enumerate(CONTEXT_COLUMNS):
        out[:, col] += w[:, j]
    out[:, CENTRE] += w[:, len(ARM_CONTEXT)]  # the coarser latent
    return out


def _output_matrix(w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Rows producing ``mu_q``, ``m_int`` and ``scale_idx`` from the last hidden layer.

    With ``a`` the rounded layer output before its floor (``w`` and ``bias`` already include the
    ``2^-e`` scale and the ``+1/2``), ``x = floor(a)`` and the spec's ``mu_q = floor((x + 2^(s-1))
    / 2^s)`` equals ``floor(a / 2^s + 1/2)``; likewise for ``m_int`` and ``scale_idx``.
    """
    s_mu = _MU_SHIFT
    s_sc = ARM_ACT_FRAC_BITS - LOG_SCALE_STEP_BITS
    s_min = LOG_SCALE_MIN * 2.0**ARM_ACT_FRAC_BITS  # an integer (checked at import)
    out = np.zeros((N_OUTPUTS, w.shape[1] + 1))
    # mu_q = floor((a + 2^(s_mu - 1)) / 2^s_mu)
    out[0, :-1] = w[0] * 2.0**-s_mu
    out[0, -1] = (bias[0] + 2.0 ** (s_mu - 1)) * 2.0**-s_mu
    # m_int = floor((a + 2^(s_mu - 1)) / 2^(s_mu + MU_FRAC_BITS))
    out[1, :-1] = w[0] * 2.0 ** -(s_mu + MU_FRAC_BITS)
    out[1, -1] = (bias[0] + 2.0 ** (s_mu - 1)) * 2.0 ** -(s_mu + MU_FRAC_BITS)
    # scale_idx = floor((a - s_min + 2^(s_sc - 1)) / 2^s_sc)
    out[2, :-1] = w[1] * 2.0**-s_sc
    out[2, -1] = (bias[1] - s_min + 2.0 ** (s_sc - 1)) * 2.0**-s_sc
    return out
