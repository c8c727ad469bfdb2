"""The Python API (re-exported by :mod:`lnic`): encode an array, encode it and get the
statistics, decode bytes. Wrong argument types are a :class:`TypeError` that says what to
pass; everything a valid call can meet is an :class:`lnic.errors.LnicError`.

This module imports neither the encoder nor the decoder until a function needs it, so that
``import lnic`` stays instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lnic.encoder.presets import DEFAULT_PRESET
from lnic.errors import InputError

_BYTES_LIKE = (bytes, bytearray, memoryview)


@dataclass(frozen=True)
class EncodeStats:
    """A bitstream and what the encoder measured on it (after decoding the bytes it wrote)."""

    data: bytes
    """The .lnic file."""
    width: int
    height: int
    channels: int
    bpp: float
    """Bits per pixel of the whole file: 8 * len(data) / (width * height)."""
    psnr: float
    """PSNR in dB of the decoded file against the input, over all samples."""
    seconds: float
    """Wall time of the encode, including the check that decodes the file."""
    lmbda: float
    """The rate-distortion lambda used (chosen by the encoder for a size or bpp target)."""
    quality: int | None
    preset: str
    mac_per_pixel: float
    """Multiply-accumulates per pixel of the decoder for this file."""
    section_bytes: dict[str, int] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict, repr=False)
    """Everything the encoder reports (``lnic encode --json``'s object)."""


def _check_image_argument(image: object, function: str) -> None:
    if isinstance(image, (str, os.PathLike, *_BYTES_LIKE)):
        raise TypeError(
            f"{function} takes the pixels as an (H, W, 3) or (H, W) uint8 array, not "
            f"{type(image).__name__}; to encode a file, read it first: "
            "lnic.image_io.read_image(path)"
        )


def encode_result(
    image,
    quality: int | None = None,
    preset: str = DEFAULT_PRESET,
    lmbda: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    *,
    target_bytes: int | None = None,
    target_bpp: float | None = None,
    steps: int | None = None,
    icc_profile: bytes | None = None,
):
    """Encode and return the encoder's full :class:`lnic.encoder.encode.EncodeResult`.

    One of ``quality`` (1..8, default 4), ``lmbda``, ``target_bytes`` and ``target_bpp``;
    ``steps`` overrides the preset's number of optimisation steps; ``icc_profile`` is carried
    in the file.
    """
    _check_image_argument(image, "lnic.encode")
    targets = [v is not None for v in (quality, lmbda, target_bytes, target_bpp)]
    if sum(targets) > 1:
        raise InputError("give at most one of quality, lmbda, target_bytes and target_bpp")
    from lnic.encoder.encode import encode_array

    return encode_array(
        image,
        quality=quality,
        preset=preset,
        lmbda=lmbda,
        seed=seed,
        progress=progress,
        target_bytes=target_bytes,
        target_bpp=target_bpp,
        steps=steps,
        icc_profile=None if icc_profile is None else bytes(icc_profile),
    )


def encode_with_stats(
    image,
    quality: int | None = None,
    preset: str = DEFAULT_PRESET,
    lmbda: float | None = None,
    seed: int = 0,
    *,
    target_bytes: int | None = None,
    target_bpp: float | None = None,
    steps: int | None = None,
    icc_profile: bytes | None = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> EncodeStats:
    """Encode an (H, W, 3) or (H, W) uint8 array; returns the bytes with their statistics.

    See :func:`encode_result` for the arguments.
    """
    r = encode_result(
        image,
        quality,
        preset,
        lmbda,
        seed,
        progress,
        target_bytes=target_bytes,
        target_bpp=target_bpp,
        steps=steps,
        icc_profile=icc_profile,
    )
    return EncodeStats(
        data=r.bitstream,
        width=r.width,
        height=r.height,
        channels=r.channels,
        bpp=r.bpp,
        psnr=r.psnr_rgb,
        seconds=r.encode_seconds,
        lmbda=r.lmbda,
        quality=r.quality,
        preset=r.preset,
        mac_per_pixel=r.mac_table["total"],
        section_bytes=dict(r.section_bytes),
        summary=r.summary(),
    )


def encode(
    image,
    quality: int | None = None,
    preset: str = DEFAULT_PRESET,
    lmbda: float | None = None,
    seed: int = 0,
    *,
    target_bytes: int | None = None,
    target_bpp: float | None = None,
    steps: int | None = None,
    icc_profile: bytes | None = None,
) -> bytes:
    """Encode an (H, W, 3) or (H, W) uint8 array; returns the .lnic file's bytes.

    ``quality`` 1..8 (default 4) or ``lmbda``, or a size: ``target_bytes`` or ``target_bpp``;
    ``icc_profile``: the colour profile to carry. :func:`encode_with_stats` also returns
    the bpp, PSNR and time.
    """
    return encode_result(
        image,
        quality,
        preset,
        lmbda,
        seed,
        target_bytes=target_bytes,
        target_bpp=target_bpp,
        steps=steps,
        icc_profile=icc_profile,
    ).bitstream


def as_bitstream(data: object, function: str = "lnic.decode") -> bytes:
    """``data`` as bytes, or a :class:`TypeError` that says to pass the file's bytes."""
    if isinstance(data, (str, os.PathLike)):
        raise TypeError(
            f"{function} takes the file's bytes, not a path: "
            f"{function}(pathlib.Path({str(data)!r}).read_bytes())"
        )
    if isinstance(data, _BYTES_LIKE):
        return bytes(data)
    raise TypeError(
        f"{function} takes bytes (bytes, bytearray, memoryview), not {type(data).__name__}"
    )


def decode(data: bytes, *, max_pixels: int | None = None):
    """Decode a .lnic file's bytes to an (H, W, 3) uint8 array ((H, W) for grayscale files).

    ``max_pixels`` refuses, before any work, a file that declares a larger image (default:
    ``lnic.decoder.DEFAULT_MAX_PIXELS``, 16,777,216). A path instead of bytes is a
    :class:`TypeError`; a bad file is a :class:`lnic.errors.BitstreamError`.
    """
    data = as_bitstream(data)
    from lnic.decoder import decode_bytes

    if max_pixels is None:
        return decode_bytes(data)
    return decode_bytes(data, max_pixels=max_pixels)
