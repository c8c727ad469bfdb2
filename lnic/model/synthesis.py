"""Synthesis: per-pixel MLP from the upsampled latents to colour, then two 3x3 residual convs.

``levels -> hidden (1x1, ReLU) -> channels (1x1)``, then ``y += conv3x3(y)`` and
``y += conv3x3(relu(y))`` with replicated borders. This is the decoder's exact integer form;
the float form trained by the encoder is :class:`lnic.encoder.nets.synthesis.Synthesis`.
"""

from __future__ import annotations

import numpy as np

from lnic.model.parts import SynthesisWeights
from lnic.model.quantized import integer_linear


def _im2col3x3(y: np.ndarray) -> np.ndarray:
    """[C, H, W] -> [H*W, C*9], columns ordered (channel, dy, dx), borders replicated."""
    c, h, w = y.shape
    p = np.pad(y, ((0, 0), (1, 1), (1, 1)), mode="edge")
    cols = [p[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    return np.stack(cols, axis=1).reshape(c * 9, h * w).T


def synthesis_integer(
    weights: SynthesisWeights, z: np.ndarray, frac: int, clamp: int
) -> np.ndarray:
    """Exact integer synthesis. ``z`` is [levels, H, W] fixed point; returns [C, H, W] likewise."""
    lin1, lin2, conv_a, conv_b = weights.layers()
    levels, h, w = z.shape
    x = integer_linear(lin1, z.reshape(levels, -1).T, frac, clamp, relu=True)
    y = integer_linear(lin2, x, frac, clamp, relu=False).T.reshape(-1, h, w)
    y = y + integer_linear(conv_a, _im2col3x3(y), frac, clamp, relu=False).T.reshape(y.shape)
    r = np.maximum(y, 0.0)
    y = y + integer_linear(conv_b, _im2col3x3(r), frac, clamp, relu=False).T.reshape(y.shape)
    return np.clip(y, -clamp, clamp)


def synthesis_macs(levels: int, hidden: int, channels: int) -> int:
    """Multiply-accumulates per pixel of the synthesis."""
    return levels * hidden + hidden * channels + 2 * 9 * channels * channels
