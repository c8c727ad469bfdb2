"""Decoding of the latents: validation, then one or two passes over the schedule's steps.

The first pass runs without the ARM's clamps, which decoded latents this small never reach
(checked at the end from their range, :meth:`ArmPlan.clamps_may_bite`); a second pass with them
runs in the rare other case, and whenever the first pass fails (a diverging pass can fail on a
valid file).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import constriction
import numpy as np

from lnic.bitstream.arm_kernels import Kernels
from lnic.bitstream.c_kernels import CKernels
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
from lnic.format import LATENT_CLAMP, PROB_BITS
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
    prob_bits: int = PROB_BITS,
    loop: str | None = None,
) -> list[np.ndarray]:
    """Inverse of :func:`.encode.encode_latents`: integer grids (float64 arrays), finest first.

    ``prob_bits`` is the precision of the table the section is coded with (the file's version
    names it: :attr:`.header.Header.prob_bits`).

    Every failure (range decoder error, escape codes missing or left over, data left in the
    latent section, latent out of range) raises :class:`BitstreamError`. ``loop`` (``numpy``,
    ``compiled`` or ``auto``, the default) picks the decoding loop
    (:func:`.loop_choice.choose_kernels`).
    """
    n_latents = sum(h * w for h, w in shapes)
    words = _words(coded, n_latents, prob_bits)
    plan = ArmPlan.fold(arm)
    kernels = choose_kernels(num_steps(shapes), n_latents, loop)
    for clamps in (False, True):
        decoded = _decode_checked(words, escapes, shapes, plan, clamps, kernels, prob_bits)
        if decoded is None:
            continue
        out, largest = decoded
        if clamps or not plan.clamps_may_bite(largest) or clamps_did_not_bite(arm, plan, out):
            return out
    raise AssertionError("unreachable: the clamped pass returns or raises")


CODER_SLACK_BITS = 64
"""Bits by which a range-coded section may fall short of its symbols' information content under
the table (the coder's final flush rounds). On the cheapest symbol it never does: constriction's
quantized probability of it is lower than the table's (all-cheapest sections are 6.6% longer
than the bound, ``benchmarks/decoder_limits.md``)."""


def min_coded_bytes(n_latents: int, prob_bits: int = PROB_BITS) -> int:
    """Fewest bytes a range-coded section of ``n_latents`` latents can have: at least one word,
    and every latent costs at least :func:`.symbols.min_symbol_bits` (the table's likeliest
    symbol). A crafted small file that declares a huge image is refused against this before
    any work (``lnic.decoder.validation``)."""
    bits = n_latents * min_symbol_bits(prob_bits) - CODER_SLACK_BITS
    return max(4, 4 * math.ceil(bits / 32))


def check_coded_length(n_bytes: int, n_latents: int, prob_bits: int = PROB_BITS) -> None:
    """Refuse a range-coded section of ``n_bytes`` that cannot hold ``n_latents`` latents
    coded with the table of precision ``prob_bits``."""
    if n_bytes % 4:
        raise BitstreamError("latent section is not a whole number of 32-bit words")
    need = min_coded_bytes(n_latents, prob_bits)
    if n_bytes < need:
        raise BitstreamError(
            f"latent section of {n_bytes} bytes is too short for the {n_latents} latents the"
            f" header declares (at least {need} bytes)"
        )


def _words(coded: bytes, n_latents: int, prob_bits: int) -> np.ndarray:
    """The range-coded section as 32-bit words, refused if it cannot hold ``n_latents``."""
    check_coded_length(len(coded), n_latents, prob_bits)
    return np.frombuffer(coded, dtype="<u4").astype(np.uint32)


def _decode_checked(
    words: np.ndarray,
    escapes: bytes,
    shapes: Shapes,
    plan: ArmPlan,
    clamps: bool,
    kernels: CKernels | Kernels | None,
    prob_bits: int,
) -> _Decoded | None:
    """One pass; a failure of the pass without the clamps gives None (try again with them)."""
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
    except Exception as exc:  # constriction rejects some malformed inputs up front
        raise BitstreamError(f"corrupt latent section ({exc})") from exc
    if isinstance(kernels, CKernels):  # (constriction's decoder above checks the words alike)
        from lnic.bitstream.latent_coding.c_loop import CRangeDecoder

        decoder = CRangeDecoder(kernels, words)
    grids = make_grids(shapes)
    try:
        info = decode_pass(decoder, escapes, plan, grids, kernels, clamps, prob_bits)
        _check_consumed(decoder, info, len(words))
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


INFO_MARGIN = 1 / 64
"""Relative excess of the decoded symbols' information content (from the table) over the
section's bits that is still no sign of an overrun: constriction's 24-bit quantization of the
probabilities makes improbable symbols cheaper than the table says, by up to 0.43% of their
cost under the 2^20 table (a symbol of probability 2^-20 coded 3,000 times), 0.02% under the
2^16 table."""


def _check_consumed(
    decoder: constriction.stream.queue.RangeDecoder, info_bits: float, n_words: int
) -> None:
    """Refuse a latent section that did not hold exactly the declared latents.

    A range decoder reads past the end of its data without complaint (as zeros), so more
    latents than the section codes (a header declaring another size) show as information
    content beyond the section's bits; data left over shows as a decoder not exhausted
    (constriction cannot tell a single trailing word from its own flush; two or more it can).
    """
    if info_bits * (1 - INFO_MARGIN) > 32 * n_words + CODER_SLACK_BITS:
        raise BitstreamError(
            "the latent section ends before the latents the header declares (corrupt file, or"
            " a header that does not match it)"
        )
    if not decoder.maybe_exhausted():
        raise BitstreamError("unread data at the end of the latent section (corrupt file)")


def decode_pass(
    decoder: constriction.stream.queue.RangeDecoder,
    escapes: bytes,
    plan: ArmPlan,
    grids: list[Grid],
    kernels: CKernels | Kernels | None,
    clamps: bool,
    prob_bits: int = PROB_BITS,
) -> float:
    """Decode every grid into its buffer, step by step of the global schedule (with the ARM's
    clamps if ``clamps``; scale_idx is always clipped), with the C or numba ``kernels`` if given,
    else the numpy loop, under the table of precision ``prob_bits``; returns the decoded
    symbols' information content in bits."""
    steps = decode_steps(grids)
    codes = EscapeCodes(escapes)
    try:
        if isinstance(kernels, CKernels):
            from lnic.bitstream.latent_coding.c_loop import c_loop

            info = c_loop(kernels, decoder, codes, plan, steps, clamps, prob_bits)
        elif kernels is not None:
            from lnic.bitstream.latent_coding.compiled_loop import compiled_loop

            info = compiled_loop(kernels, decoder, codes, plan, steps, clamps, prob_bits)
        else:
            info = numpy_loop(decoder, codes, plan, steps, clamps, prob_bits)
    except BitstreamError:
        codes.check_symbols()
        raise
    for copy in steps.last_copies:
        copy()
    codes.finish()
    return info
