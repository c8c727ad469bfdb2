"""Decoding a file: parse the sections, decode the weights and the latents, reconstruct."""

from __future__ import annotations

import logging

import numpy as np

from lnic.bitstream.container import Sections, unpack_file
from lnic.bitstream.latent_coding import decode_latents
from lnic.bitstream.weights import decode_weights
from lnic.decoder.profiler import NO_PROFILER, NullProfiler, Profiler
from lnic.decoder.synthesis import synthesize
from lnic.decoder.upsampling import FixedPointUpsampler
from lnic.decoder.validation import DEFAULT_MAX_PIXELS, check_sections, check_size, validate_modules
from lnic.errors import BitstreamError, LnicError
from lnic.model.latents import grid_shapes
from lnic.model.parts import DecoderWeights

log = logging.getLogger(__name__)


def reconstruct(
    weights: DecoderWeights, grids: list[np.ndarray], profiler: Profiler | None = None
) -> np.ndarray:
    """Integer latents + quantized networks -> uint8 image (H, W, C), exactly.

    ``profiler`` (if given) times the stages ``upsampling`` and ``synthesis``.
    """
    prof: Profiler | NullProfiler = profiler or NO_PROFILER
    with prof.stage("upsampling"):
        upsampler = FixedPointUpsampler(grids, weights.upsampling, prof)
    with prof.stage("synthesis"):
        return synthesize(weights.synthesis, upsampler)


def decode_sections(sections: Sections, profiler: Profiler | None = None) -> np.ndarray:
    """Decode parsed sections to an (H, W, 3) or (H, W) uint8 array.

    ``profiler`` (if given) times the stages ``weights`` (parsing and validation),
    ``entropy_decoding``, ``upsampling`` and ``synthesis``. Floating-point warnings are
    silenced: the arithmetic that decides pixels is exact, and a pass that overflows (on a
    crafted file) is detected and redone or refused, never reported as a warning.
    """
    h = sections.header
    prof: Profiler | NullProfiler = profiler or NO_PROFILER
    with np.errstate(all="ignore"):
        check_sections(sections)  # (decode_bytes checked it already: other callers)
        with prof.stage("weights"):
            weights = decode_weights(sections.weights, h.arch.weight_shapes())
            validate_modules(weights)
        with prof.stage("entropy_decoding"):
            shapes = grid_shapes(h.height, h.width, h.arch.levels)
            grids = decode_latents(
                sections.latents, sections.escapes, shapes, weights.arm, h.prob_bits
            )
        image = reconstruct(weights, grids, profiler)
    return image[:, :, 0] if h.channels == 1 else image


def decode_bytes(
    data: bytes, profiler: Profiler | None = None, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode a complete .lnic file. Every failure is a :class:`BitstreamError`.

    ``max_pixels`` bounds the image size (width x height) decoded, and so the memory and time a
    file can cost: :data:`~lnic.decoder.validation.DEFAULT_MAX_PIXELS` (16,777,216) unless
    given; None allows all the format allows (40 M). It is checked, like the sections' sizes, as
    soon as the header and the checksum are, before any other work. ``profiler``: see
    :func:`decode_sections`.
    """
    try:
        sections = unpack_file(bytes(data))
        check_sections(sections)
        check_size(sections.header, max_pixels)
        return decode_sections(sections, profiler)
    except LnicError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # malformed values that passed the checksum (crafted files)
        log.debug("decoder failure", exc_info=True)
        raise BitstreamError(f"corrupt bitstream ({type(exc).__name__}: {exc})") from exc
