"""The image formats ``lnic decode`` writes, chosen by the output's extension: PNG and the other
lossless formats Pillow writes (PPM/PGM/PNM, TIFF, BMP) and PAM, with the ICC profile where the
format carries one."""

from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np

from lnic.errors import InputError


class OutputFormat(NamedTuple):
    """One image format ``lnic decode`` writes."""

    name: str
    """What messages call it (``PNG``)."""
    pillow: str | None
    """Pillow's name for the format; None for PAM, which lnic writes itself."""
    carries_icc: bool
    gray_only: bool = False


PNG = OutputFormat("PNG", "PNG", True)

PNG_COMPRESS_LEVEL = 1
"""zlib level of the PNGs ``lnic decode`` writes. A decode's PNG is written on every run, and at
Pillow's default level 6 writing a 768x512 PNG takes about five times as long as level 1 (longer
than the decode itself) for files ~10% smaller; a smaller PNG is a recompression away."""

OUTPUT_FORMATS: dict[str, OutputFormat] = {
    ".png": PNG,
    ".ppm": OutputFormat("PPM", "PPM", False),
    ".pgm": OutputFormat("PGM", "PPM", False, gray_only=True),
    ".pnm": OutputFormat("PNM", "PPM", False),
    ".pam": OutputFormat("PAM", None, False),
    ".tif": OutputFormat("TIFF", "TIFF", True),
    ".tiff": OutputFormat("TIFF", "TIFF", True),
    ".bmp": OutputFormat("BMP", "BMP", False),
}
"""Extension -> format. A name without an extension (``-``, ``/dev/null``, a FIFO) gets PNG."""


def output_format(name: str, suffix: str) -> OutputFormat:
    """The format for an output ``name`` with extension ``suffix`` (lower case, '' for none);
    an extension lnic does not write is refused, with the list of those it does."""
    if not suffix:
        return PNG
    try:
        return OUTPUT_FORMATS[suffix]
    except KeyError:
        known = ", ".join(OUTPUT_FORMATS)
        raise InputError(
            f"{name}: lnic decode does not write {suffix} files; it writes {known} "
            "(all lossless; PNG for a name without an extension)"
        ) from None


def check_channels(name: str, fmt: OutputFormat, channels: int) -> None:
    """Refuse an RGB image for a grayscale-only format (``name``: the output, for the message)."""
    if fmt.gray_only and channels != 1:
        raise InputError(f"{name}: a {fmt.name} file holds grayscale images; this one is RGB")


def _pam_bytes(image: np.ndarray) -> bytes:
    h, w = image.shape[:2]
    depth, kind = (1, "GRAYSCALE") if image.ndim == 2 else (3, "RGB")
    head = f"P7\nWIDTH {w}\nHEIGHT {h}\nDEPTH {depth}\nMAXVAL 255\nTUPLTYPE {kind}\nENDHDR\n"
    return head.encode("ascii") + np.ascontiguousarray(image).tobytes()


def image_bytes(image: np.ndarray, fmt: OutputFormat, icc_profile: bytes | None = None) -> bytes:
    """Encode an (H, W) or (H, W, 3) uint8 array in ``fmt`` (with ``icc_profile`` when the
    format carries one)."""
    check_channels("image", fmt, 1 if image.ndim == 2 else 3)
    if fmt.pillow is None:
        return _pam_bytes(image)
    from PIL import Image

    buf = io.BytesIO()
    options: dict[str, object] = {"compress_level": PNG_COMPRESS_LEVEL} if fmt is PNG else {}
    if fmt.carries_icc and icc_profile:
        options["icc_profile"] = icc_profile
    Image.fromarray(image).save(buf, format=fmt.pillow, **options)
    return buf.getvalue()
