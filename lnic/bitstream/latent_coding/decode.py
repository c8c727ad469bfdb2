"""Decoding of the latents: validation, then one or two passes over the schedule's steps.

The first pass runs without the ARM's clamps, which decoded latents this small never reach
(checked at the end from their range, :meth:`ArmPlan.clamps_may_bite`); a second pass with them
runs in the rare other case, and whenever the first pass fails (a diverging pass can fail on a
valid file).
"""

from __future__ import annotations

from typing import NamedTuple

import constriction
import numpy as np

from lnic.bitstream.arm_kernels import Kernels
from lnic.bitstream.latent_coding.buffers import Grid, make_grids
from lnic.bitstream.latent_coding.clamps import clamps_did_not_bite
from lnic.bitstream.latent_coding.escapes import EscapeCodes
from lnic.bitstream.latent_coding.loop_choice import choose_kernels
from lnic.bitstream.latent_coding.numpy_loop import numpy_loop
from lnic.bitstream.latent_coding.plan import ArmPlan
from lnic.bitstream.latent_coding.schedule import Shapes, num_steps
from lnic.bitstream.latent_coding.steps import decode_steps
from lnic.bitstream.latent_coding.symbols import min_symbol_bits
from lnic.errors import BitstreamError
from lnic.format import LATENT_CLAMP
from lnic.model.quantized import QuantizedLinear


class _Decoded(NamedTuple):
    grids: list[np.ndarray]
    largest: float
    """The largest latent magnitude."""


def decode_latents(
    coded: bytes,
    escapes: bytes,
    shapes: Shapes,
    arm: list[QuantizedLinear],
    loop: str | None = None,
) -> list[np.ndarray]:
    """Inverse of :func:`.encode.encode_latents`: integer grids (float64 arrays), finest first.

    Every failure (range decoder error, escape section too short, latent out of range) raises
    :class:`BitstreamError`. ``loop`` (``numpy``,
    ``compiled`` or ``auto``, the default) picks the decoding loop
    (:func:`.loop_choice.choose_kernels`).
    """
    n_latents = sum(h * w for h, w in shapes)
    words = _words(coded, n_latents)
    plan = ArmPlan.fold(arm)
    kernels = choose_kernels(num_steps(shapes), n_latents, loop)
    for clamps in (False, True):
        decoded = _decode_checked(words, escapes, shapes, plan, clamps, kernels)
        if decoded is None:
            continue
        out, largest = decoded
        if clamps or not plan.clamps_may_bite(largest) or clamps_did_not_bite(arm, plan, out):
            return out
    raise AssertionError("unreachable: the clamped pass returns or raises")


def _words(coded: bytes, n_latents: int) -> np.ndarray:
    """The range-coded section as 32-bit words, refused if it cannot hold ``n_latents``."""
    if len(coded) % 4:
        raise BitstreamError("latent section is not a whole number of 32-bit words")
    if 8 * len(coded) < n_latents * min_symbol_bits() / 2 - 64:
        # Even a perfectly predicted latent costs min_symbol_bits(): a crafted tiny file that
        # declares a huge image is refused here instead of being decoded at length.
        raise BitstreamError(
            f"latent section of {len(coded)} bytes is too short for {n_latents} latents"
        )
    return np.frombuffer(coded, dtype="<u4").astype(np.uint32)


def _decode_checked(
    words: np.ndarray,
    escapes: bytes,
    shapes: Shapes,
    plan: ArmPlan,
    clamps: bool,
    kernels: Kernels | None,
) -> _Decoded | None:
    """One pass; a failure of the pass without the clamps gives None (try again with them)."""
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
    except Exception as exc:  # constriction rejects some malformed inputs up front
        raise BitstreamError(f"corrupt latent section ({exc})") from exc
    grids = make_grids(shapes)
    try:
        decode_pass(decoder, escapes, plan, grids, kernels, clamps)
    except BitstreamError:
        if clamps:
            raise
        return None
    out = [np.array(g.raster_view()) for g in grids]
    largest = max(max(float(g.max(initial=0)), -float(g.min(initial=0))) for g in out)
    # Out-of-range latents are detected once at the end: decoding after such a value goes on
    # with bounded (if meaningless) numbers and the file is refused all the same.
    if largest > LATENT_CLAMP:
        if clamps:
            raise BitstreamError("decoded latent out of range (corrupt bitstream)")
        return None
    return _Decoded(out, largest)


def decode_pass(
    decoder: constriction.stream.queue.RangeDecoder,
    escapes: bytes,
    plan: ArmPlan,
    grids: list[Grid],
    kernels: Kernels | None,
    clamps: bool,
) -> None:
    """Decode every grid into its buffer, step by step of the global schedule (with the ARM's
    clamps if ``clamps``; scale_idx is always clipped), with the compiled ``kernels`` if given,
    else the numpy loop."""
    steps = decode_steps(grids)
    codes = EscapeCodes(escapes)
    if kernels is not None:
        from lnic.bitstream.latent_coding.compiled_loop import compiled_loop

        compiled_loop(kernels, decoder, codes, plan, steps, clamps)
    else:
        numpy_loop(decoder, codes, plan, steps, clamps)
    for copy in steps.last_copies:
        copy()
    codes.finish()
