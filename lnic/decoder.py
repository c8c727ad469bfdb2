"""The decoder: bitstream -> image, in exact integer arithmetic end to end.

Parsing (integer ARM + fixed table + range decoder) and reconstruction (upsampling + synthesis
in fixed point) are both exact, so a file decodes to the same pixels on every machine and any
number of threads.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from lnic.bitstream.container import Sections, unpack_file
from lnic.bitstream.format import SYNTH_ACT_CLAMP, SYNTH_FRAC_BITS
from lnic.bitstream.latent_coding import decode_latents
from lnic.bitstream.weights import decode_modules
from lnic.errors import BitstreamError, LnicError
from lnic.model.architecture import Architecture
from lnic.model.latents import grid_shapes
from lnic.model.quantized import QuantizedLinear
from lnic.model.synthesis import synthesis_integer
from lnic.model.upsampling import upsample_integer

log = logging.getLogger(__name__)


def reconstruct(
    arch: Architecture, modules: list[list[QuantizedLinear]], grids: list[np.ndarray]
) -> np.ndarray:
    """Integer latents + quantized networks -> uint8 image (H, W, C), exactly."""
    _, (up,), synth = modules
    z = upsample_integer(grids, up.weight, up.e_w, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    y = synthesis_integer(synth, z, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    pixels = np.floor(y * (255.0 * 2.0**-SYNTH_FRAC_BITS) + 0.5)
    return np.clip(pixels, 0, 255).astype(np.uint8).transpose(1, 2, 0)


def decode_sections(sections: Sections, timings: dict[str, float] | None = None) -> np.ndarray:
    """Decode parsed sections to an (H, W, 3) or (H, W) uint8 array."""
    h = sections.header
    t0 = time.perf_counter()
    modules = decode_modules(sections.weights, h.arch.module_shapes())
    t1 = time.perf_counter()
    shapes = grid_shapes(h.height, h.width, h.arch.levels)
    grids = decode_latents(sections.latents, sections.escapes, shapes, modules[0])
    t2 = time.perf_counter()
    image = reconstruct(h.arch, modules, grids)
    t3 = time.perf_counter()
    if timings is not None:
        timings.update(weights=t1 - t0, entropy_decoding=t2 - t1, reconstruction=t3 - t2)
    return image[:, :, 0] if h.channels == 1 else image


def decode_bytes(data: bytes, timings: dict[str, float] | None = None) -> np.ndarray:
    """Decode a complete .lnic file. Every failure is a :class:`BitstreamError`."""
    try:
        return decode_sections(unpack_file(bytes(data)), timings)
    except LnicError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # malformed values that passed the checksum (crafted files)
        log.debug("decoder failure", exc_info=True)
        raise BitstreamError(f"corrupt bitstream ({type(exc).__name__}: {exc})") from exc
