"""Post-training quantization: latents to integers, network weights to power-of-two steps.

Each module's weight step ``2**-e_w`` and bias step ``2**-e_b`` are chosen by the real cost
they cause: for the ARM, the exact code length of the latents under the integer ARM plus the
ARM's own bits; for upsampling and synthesis, the exact integer reconstruction's squared error
plus lambda times their bits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch

from lnic.bitstream.latent_coding import latent_bits
from lnic.bitstream.weights import module_bits
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.format import (
    ARM_ACT_FRAC_BITS,
    ARM_WEIGHT_CLAMP,
    LATENT_CLAMP,
    SYNTH_FRAC_BITS,
    WEIGHT_STEP_EXP_MAX,
    WEIGHT_STEP_EXP_MIN,
)
from lnic.model.parts import DecoderParts, DecoderWeights
from lnic.model.quantized import QuantizedLinear

log = logging.getLogger(__name__)

FloatLayer = tuple[np.ndarray, np.ndarray]
"""A float layer's (weight [out, fan_in], bias [out]); an absent bias has shape (0,)."""


def quantize_latents(model: OverfittedCodec) -> list[np.ndarray]:
    """Round every latent to the nearest integer (clipped to the format's range)."""
    return [
        np.clip(np.round(g.detach().double().numpy()), -LATENT_CLAMP, LATENT_CLAMP)
        for g in model.latents.grids
    ]


def _float_layers(model: OverfittedCodec) -> DecoderParts[FloatLayer]:
    """The float weights and biases of every layer, by module, as the file stores them."""

    def wb(weight: torch.Tensor, bias: torch.Tensor | None) -> FloatLayer:
        w = weight.detach().double().numpy()
        b = np.zeros(0) if bias is None else bias.detach().double().numpy()
        return w.reshape(w.shape[0], -1), b

    s = model.synthesis
    (w1, b1), (w2, b2) = _balance(wb(s.lin1.weight, s.lin1.bias), wb(s.lin2.weight, s.lin2.bias))
    return DecoderParts.from_modules(
        arm=[wb(layer.weight, layer.bias) for layer in model.arm.linears()],
        upsampling=[wb(model.upsampler.taps, None), wb(model.upsampler.pre, None)],
        synthesis=[
            (w1, b1),
            (w2, b2),
            wb(s.conv_a.weight, s.conv_a.bias),
            wb(s.conv_b.weight, s.conv_b.bias),
        ],
    )


def _balance(first: FloatLayer, second: FloatLayer) -> tuple[FloatLayer, FloatLayer]:
    """Rescale a Linear-ReLU-Linear pair so both weight matrices span the same range.

    ``relu(a * x) = a * relu(x)`` for ``a > 0``: scaling the first layer (weights and bias) by
    ``a`` and the second layer's weights by ``1 / a`` leaves the function unchanged. Training
    drives the first synthesis layer's weights small (latents large), so without this one
    power-of-two step per module cannot serve both layers.
    """
    (w1, b1), (w2, b2) = first, second
    m1, m2 = np.abs(w1).max(), np.abs(w2).max()
    if m1 == 0 or m2 == 0:
        return first, second
    a = float(np.sqrt(m2 / m1))
    return (w1 * a, b1 * a), (w2 / a, b2)


def quantize_module(layers: list[FloatLayer], e_w: int, e_b: int) -> list[QuantizedLinear]:
    """Round every layer's weights to steps of ``2**-e_w`` and biases to ``2**-e_b``."""

    def q(v: np.ndarray, e: int) -> np.ndarray:
        return np.clip(np.round(v * 2.0**e), -ARM_WEIGHT_CLAMP, ARM_WEIGHT_CLAMP).astype(np.int64)

    return [QuantizedLinear(q(w, e_w), q(b, e_b), e_w, e_b) for w, b in layers]


def _search(
    layers: list[FloatLayer],
    frac: int,
    cost: Callable[[list[QuantizedLinear]], float],
) -> tuple[list[QuantizedLinear], float]:
    """Coordinate search of (e_w, e_b): weight step first, then bias step.

    Bias steps stay fine enough for the accumulator but coarse enough that no bias is clamped
    to :data:`ARM_WEIGHT_CLAMP` (a flat image's synthesis carries the whole picture in biases).
    """
    w_max = max((float(np.abs(w).max()) for w, _ in layers if w.size), default=0.0)
    b_max = max((float(np.abs(b).max()) for _, b in layers if b.size), default=0.0)
    e_w_cap = 31 if w_max == 0 else math.floor(math.log2(ARM_WEIGHT_CLAMP / w_max))
    e_b_cap = 31 if b_max == 0 else max(0, math.floor(math.log2(ARM_WEIGHT_CLAMP / b_max)))
    # Weight step: from the finest step that clamps no weight towards coarser ones, until four
    # steps past the best (the cost need not be monotonic when weights are tiny next to biases).
    top_w = max(WEIGHT_STEP_EXP_MIN, min(WEIGHT_STEP_EXP_MAX, e_w_cap))
    best: tuple[float, list[QuantizedLinear]] | None = None
    for e_w in range(top_w, WEIGHT_STEP_EXP_MIN - 1, -1):
        cand = quantize_module(layers, e_w, min(e_w + 4, frac + e_w, 31, e_b_cap))
        c = cost(cand)
        if best is None or c < best[0]:
            best = (c, cand)
        elif c > 1.5 * best[0] and e_w < best[1][0].e_w - 4:
            break
    assert best is not None
    e_w = best[1][0].e_w
    if not any(b.size for _, b in layers):
        return best[1], best[0]
    # Bias step: walk from the scan's value towards cheaper costs, one step at a time (the
    # cost is unimodal in e_b: coarser steps lose precision, finer ones cost bits).
    lo, hi = 0, min(frac + e_w, e_w + 10, 31, e_b_cap)
    e_b = best[1][0].e_b
    for direction in (1, -1):
        moved = False
        while lo <= e_b + direction <= hi:
            cand = quantize_module(layers, e_w, e_b + direction)
            c = cost(cand)
            if c >= best[0]:
                break
            best, e_b, moved = (c, cand), e_b + direction, True
        if moved:
            break
    return best[1], best[0]


INITIAL_STEPS = {"upsampling": (12, 0), "synthesis": (12, 16)}
"""(e_w, e_b) of the modules that are not searched yet while another one is."""

RD_SEARCH_ORDER = ("synthesis", "upsampling")
"""The modules whose steps are chosen by reconstruction error, in this order (each search sees
the modules chosen before it)."""


def quantize_networks(
    model: OverfittedCodec,
    grids: list[np.ndarray],
    target_u8: np.ndarray,
    lmbda: float,
    reconstruct: Callable[[DecoderWeights], np.ndarray],
) -> DecoderWeights:
    """Choose every module's quantization steps by real rate-distortion cost."""
    layers = _float_layers(model).modules()
    pixels = target_u8.shape[0] * target_u8.shape[1]
    target = target_u8.astype(np.float64) / 255.0

    def arm_cost(arm: list[QuantizedLinear]) -> float:
        return lmbda * (latent_bits(grids, arm) + module_bits(arm)) / pixels

    arm, _ = _search(layers["arm"], ARM_ACT_FRAC_BITS, arm_cost)
    weights: DecoderWeights = DecoderParts.from_modules(
        arm=arm,
        **{name: quantize_module(layers[name], *INITIAL_STEPS[name]) for name in RD_SEARCH_ORDER},
    )

    def rd_cost(name: str) -> Callable[[list[QuantizedLinear]], float]:
        def cost(candidate: list[QuantizedLinear]) -> float:
            trial = weights.with_module(name, candidate)
            mse = np.mean((reconstruct(trial).astype(np.float64) / 255.0 - target) ** 2)
            return float(mse + lmbda * module_bits(candidate) / pixels)

        return cost

    for name in RD_SEARCH_ORDER:
        chosen, c = _search(layers[name], SYNTH_FRAC_BITS, rd_cost(name))
        weights = weights.with_module(name, chosen)
        log.info("%s: e_w=%d e_b=%d cost %.6g", name, chosen[0].e_w, chosen[0].e_b, c)
    return weights
