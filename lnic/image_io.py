"""Reading the images the encoder codes (any format Pillow reads, HEIC through pillow-heif),
with one clear error for anything lnic cannot code; the PSNR.

Reading applies the EXIF orientation, keeps an ICC profile that describes the samples, reduces
16-bit samples to 8 bits (keeping the high byte, with a notice) and refuses alpha; everything
it does that the user may not expect comes back as a one-line note, never a warning.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lnic.errors import InputError, LnicError
from lnic.format import MAX_DIMENSION, MAX_PIXELS, MIN_DIMENSION

_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
_CONVERTED_MODES = {"P": "RGB", "1": "L", "CMYK": "RGB", "YCbCr": "RGB"}
_EXIF_ORIENTATION = 0x0112
_ICC_COLOUR_SPACE = {3: b"RGB ", 1: b"GRAY"}
"""ICC data colour space (bytes 16..19 of the profile) that describes 3- and 1-channel samples."""


class InputImage(NamedTuple):
    """An image ready for the encoder, with what it carries and what was done to it."""

    pixels: np.ndarray
    """(H, W, 3) or (H, W) uint8, upright."""
    icc_profile: bytes | None
    """The source's ICC profile, when it describes these samples."""
    notes: tuple[str, ...]
    """One line each: what the reading changed or dropped (16-bit samples, a profile...)."""


def check_dimensions(width: int, height: int, name: str = "image") -> None:
    """Refuse a size lnic cannot code (from a header, before any pixel is decoded)."""
    if min(width, height) < MIN_DIMENSION:
        raise InputError(
            f"{name} is {width}x{height}; lnic needs at least {MIN_DIMENSION}x{MIN_DIMENSION}"
        )
    if max(width, height) > MAX_DIMENSION or width * height > MAX_PIXELS:
        raise InputError(
            f"{name} is {width}x{height}; the maximum is {MAX_DIMENSION} per side and "
            f"{MAX_PIXELS} pixels"
        )


def validate_array(image: np.ndarray) -> np.ndarray:
    """Check an (H, W) or (H, W, 3) uint8 array; returns it C-contiguous."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise InputError(f"expected 8-bit samples (uint8), got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise InputError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    check_dimensions(image.shape[1], image.shape[0])
    return np.ascontiguousarray(image)


def _register_heif() -> bool:
    """Let Pillow open HEIC/HEIF files when pillow-heif is installed (imported only when a file
    is not otherwise readable: it costs a noticeable import)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def _looks_like_heif(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim")


def _open(source: Path | io.BytesIO, name: str) -> Image.Image:
    try:
        return Image.open(source)
    except UnidentifiedImageError:
        pass
    if isinstance(source, io.BytesIO):
        source.seek(0)
    if _register_heif():
        try:
            return Image.open(source)
        except UnidentifiedImageError:
            pass
    else:
        with source if isinstance(source, io.BytesIO) else open(source, "rb") as f:
            if _looks_like_heif(f.read(12)):
                raise InputError(f"{name}: HEIC input needs pillow-heif (pip install pillow-heif)")
    raise InputError(f"{name}: not an image file that Pillow can read")


def _tile_is_16_bit(args: object) -> bool:
    """A tile's raw mode reads 16-bit samples (``RGB;16B``), or its PPM maxval exceeds 255."""
    if isinstance(args, tuple):
        return any(_tile_is_16_bit(a) for a in args[:1]) or (
            len(args) == 2 and isinstance(args[1], int) and args[1] > 255
        )
    return isinstance(args, str) and ";16" in args


def is_16_bit(im: Image.Image) -> bool:
    """True for an image with 16-bit samples (ask before loading it: Pillow presents 16-bit
    RGB as 8-bit RGB and says so only in its tiles)."""
    tiles = getattr(im, "tile", None) or ()  # only images read from a file have tiles
    return im.mode.startswith("I;16") or any(_tile_is_16_bit(t.args) for t in tiles)


def _check_mode(im: Image.Image, name: str, sixteen: bool) -> None:
    mode = im.mode
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        raise InputError(
            f"{name}: images with an alpha channel are not supported "
            "(flatten or drop the alpha channel first)"
        )
    if mode in ("L", "RGB") or mode in _CONVERTED_MODES or (sixteen and mode.startswith("I")):
        return
    if mode in ("I", "F"):
        raise InputError(f"{name}: 32-bit and floating-point samples are not supported")
    raise InputError(f"{name}: unsupported image mode {mode}")


def _samples(im: Image.Image) -> np.ndarray:
    """8-bit samples of a loaded, checked image: 16-bit samples keep their high byte."""
    if im.mode.startswith("I"):  # 16-bit grayscale
        return (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
    if im.mode in _CONVERTED_MODES:
        im = im.convert(_CONVERTED_MODES[im.mode])
    return np.asarray(im)


def to_array(im: Image.Image, name: str = "image", sixteen: bool | None = None) -> np.ndarray:
    """The samples of a Pillow image as lnic codes them: (H, W, 3) or (H, W) uint8 (palette,
    bilevel, CMYK and YCbCr converted, 16-bit reduced to the high byte); alpha, 32-bit and
    float samples are an :class:`InputError`. ``sixteen``: :func:`is_16_bit` of the image
    before it was loaded (asked now if None)."""
    _check_mode(im, name, is_16_bit(im) if sixteen is None else sixteen)
    return validate_array(_samples(im))


def usable_icc_profile(icc: bytes | None, channels: int) -> bool:
    """True if ``icc`` is a profile for ``channels``-channel samples (RGB or GRAY)."""
    return bool(icc) and icc[16:20] == _ICC_COLOUR_SPACE[channels]


def _decode(im: Image.Image, name: str) -> InputImage:
    check_dimensions(*im.size, name=name)
    sixteen = is_16_bit(im)
    _check_mode(im, name, sixteen)  # before the pixels are decoded
    notes = []
    if sixteen:
        notes.append(f"{name}: 16-bit samples reduced to 8 bits")
    icc = im.info.get("icc_profile")
    im.load()
    try:
        exif = im.getexif()
        upright = ImageOps.exif_transpose(im) or im
    except Exception:  # damaged EXIF: the pixels are still good
        exif, upright = {}, im
        notes.append(f"{name}: unreadable EXIF data ignored (orientation not applied)")
    if any(tag != _EXIF_ORIENTATION for tag in exif):
        notes.append(f"{name}: EXIF metadata (camera, date, place) is not kept")
    pixels = to_array(upright, name, sixteen)
    if icc and not usable_icc_profile(icc, 1 if pixels.ndim == 2 else 3):
        space = icc[16:20].decode("latin-1").strip() or "unknown"
        notes.append(f"{name}: its {space} ICC profile does not fit the coded samples; dropped")
        icc = None
    return InputImage(pixels, bytes(icc) if icc else None, tuple(notes))


def load_image(source: str | os.PathLike | bytes, name: str | None = None) -> InputImage:
    """Read an image to encode from a path or from the file's bytes (``name`` for messages).

    Upright (EXIF orientation applied), 8-bit RGB or grayscale; palette, bilevel, CMYK and
    YCbCr images are converted; alpha, 32-bit and float samples are refused. The size is
    checked from the file's header before its pixels are decoded.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "<bytes>"
        opened: Path | io.BytesIO = io.BytesIO(source)
    else:
        name = name or str(source)
        opened = Path(source)
        if not opened.is_file():
            raise InputError(f"{name}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's bomb and EXIF warnings: we say it once
            with _open(opened, name) as im:
                return _decode(im, name)
    except LnicError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{name}: image too large ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{name}: not a readable image ({exc})") from exc


def read_image(path: str | os.PathLike) -> np.ndarray:
    """The pixels of an image file, as :func:`load_image` reads them."""
    return load_image(path).pixels


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two 8-bit images, the MSE taken over all samples (all of R, G and B)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
