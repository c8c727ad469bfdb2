"""Autoregressive entropy model (ARM): a tiny MLP over causal neighbours -> Laplace (mu, scale).

One MLP is shared by all grids. Its inputs are the 12 already-decoded neighbours of a latent in
its own grid (:data:`ARM_CONTEXT`) and the co-located latent of the next coarser grid, which is
decoded before. This module is the decoder's form: :func:`arm_integer` drives the range coder in
fixed point, so encoder and decoder index the probability table identically. The float form the
encoder trains is :class:`lnic.encoder.nets.arm.Arm`.
"""

from __future__ import annotations

import numpy as np

from lnic.format import (
    ARM_ACT_CLAMP,
    ARM_ACT_FRAC_BITS,
    ARM_CONTEXT,
    LOG_SCALE_MIN,
    LOG_SCALE_STEP_BITS,
    MU_FRAC_BITS,
    N_SCALES,
)
from lnic.model.quantized import QuantizedLinear, integer_linear

N_CONTEXT = len(ARM_CONTEXT) + 1
LOG_SCALE_MAX = LOG_SCALE_MIN + (N_SCALES - 1) / 2**LOG_SCALE_STEP_BITS
CONTEXT_PAD = max(max(abs(dy), abs(dx)) for dy, dx in ARM_CONTEXT)


def coarser_colocated(coarser, shape: tuple[int, int]):
    """Value of the next coarser grid at (y // 2, x // 2) for every position of a grid.

    Works on numpy arrays and on torch tensors (the encoder's float model).
    """
    h, w = shape
    if hasattr(coarser, "repeat_interleave"):
        up = coarser.repeat_interleave(2, 0).repeat_interleave(2, 1)
    else:
        up = np.repeat(np.repeat(coarser, 2, 0), 2, 1)
    return up[:h, :w]


def shifted(padded, dy: int, dx: int, h: int, w: int):
    """The (h, w) window of a padded grid holding each position's (dy, dx) neighbour."""
    p = CONTEXT_PAD
    return padded[p + dy : p + dy + h, p + dx : p + dx + w]


def _pad_numpy(g: np.ndarray) -> np.ndarray:
    return np.pad(g, ((CONTEXT_PAD, 0), (CONTEXT_PAD, CONTEXT_PAD)))


def gather_context(grids, pad=_pad_numpy, stack=np.stack, concat=np.concatenate):
    """ARM inputs of every latent of every grid (finest first, raster order): [N, N_CONTEXT].

    ``pad`` zero-pads a grid by CONTEXT_PAD above, left and right. The defaults work on numpy
    grids (integers held in float64); the encoder passes torch's functions for its float model.
    """
    rows = []
    for k, g in enumerate(grids):
        h, w = g.shape
        padded = pad(g)
        cols = [shifted(padded, dy, dx, h, w) for dy, dx in ARM_CONTEXT]
        cols.append(coarser_colocated(grids[k + 1], (h, w)) if k + 1 < len(grids) else g * 0)
        rows.append(stack(cols, -1).reshape(h * w, N_CONTEXT))
    return concat(rows, 0)


def arm_integer(
    layers: list[QuantizedLinear], context: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact fixed-point ARM. ``context`` holds integers; returns integer table indices.

    Returns ``(mu_q, scale_idx)``: the mean in 1/16 units and the scale row of the probability
    table, both int64 arrays.
    """
    return table_indices(arm_outputs(layers, context))


def arm_outputs(layers: list[QuantizedLinear], context: np.ndarray) -> np.ndarray:
    """The exact fixed-point ARM's last-layer outputs [N, 2] (mean and log-scale with
    ARM_ACT_FRAC_BITS fractional bits), before :func:`table_indices` rounds them to the table."""
    x = context.astype(np.float64) * 2.0**ARM_ACT_FRAC_BITS
    for i, layer in enumerate(layers):
        x = integer_linear(layer, x, ARM_ACT_FRAC_BITS, ARM_ACT_CLAMP, relu=i < len(layers) - 1)
    return x


def table_indices(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mu_q, scale_idx)`` from the ARM's last-layer outputs ``x`` [N, 2] (fixed point)."""
    shift = ARM_ACT_FRAC_BITS - MU_FRAC_BITS
    mu_q = np.floor((x[:, 0] + 2.0 ** (shift - 1)) * 2.0**-shift)
    s_shift = ARM_ACT_FRAC_BITS - LOG_SCALE_STEP_BITS
    s_min = LOG_SCALE_MIN * 2.0**ARM_ACT_FRAC_BITS
    scale_idx = np.floor((x[:, 1] - s_min + 2.0 ** (s_shift - 1)) * 2.0**-s_shift)
    scale_idx = np.clip(scale_idx, 0, N_SCALES - 1)
    return mu_q.astype(np.int64), scale_idx.astype(np.int64)


def arm_macs(hidden: int, layers: int) -> int:
    """Multiply-accumulates per latent of the ARM."""
    dims = [N_CONTEXT] + [hidden] * layers + [2]
    return sum(a * b for a, b in zip(dims[:-1], dims[1:]))
