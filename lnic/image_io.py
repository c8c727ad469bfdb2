"""Reading and writing images, with one clear error for anything lnic cannot code."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lnic.errors import InputError, LnicError
from lnic.format import MAX_DIMENSION, MAX_PIXELS, MIN_DIMENSION

Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def validate_array(image: np.ndarray) -> np.ndarray:
    """Check an (H, W) or (H, W, 3) uint8 array; returns it C-contiguous."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise InputError(f"expected 8-bit samples (uint8), got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise InputError(f"expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < MIN_DIMENSION:
        raise InputError(f"image is {w}x{h}; lnic needs at least {MIN_DIMENSION}x{MIN_DIMENSION}")
    if max(h, w) > MAX_DIMENSION or h * w > MAX_PIXELS:
        raise InputError(
            f"image is {w}x{h}; the maximum is {MAX_DIMENSION} per side and {MAX_PIXELS} pixels"
        )
    return np.ascontiguousarray(image)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit RGB or grayscale image file.

    Palette images are expanded to RGB. Images with an alpha channel and 16-bit images are
    refused with an error that says so (lnic codes 8-bit RGB or grayscale only).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
                raise InputError(
                    f"{path}: images with an alpha channel are not supported "
                    "(flatten or drop the alpha channel first)"
                )
            if mode in ("I;16", "I;16B", "I;16L", "I", "F") or mode.startswith("I;16"):
                raise InputError(
                    f"{path}: {mode} images (more than 8 bits per sample) are not "
                    "supported; convert to 8-bit first"
                )
            if mode == "L":
                array = np.asarray(im)
            elif mode in ("RGB", "P", "1", "CMYK", "YCbCr"):
                array = np.asarray(im.convert("L" if mode == "1" else "RGB"))
            else:
                raise InputError(f"{path}: unsupported image mode {mode}")
    except LnicError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from exc
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: image too large ({exc})") from exc
    return validate_array(array)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise LnicError(f"{path}: output folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise LnicError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise LnicError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        raise


def png_bytes(image: np.ndarray) -> bytes:
    """Encode an (H, W) or (H, W, 3) uint8 array as PNG."""
    import io

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    atomic_write(path, png_bytes(image))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two 8-bit images, the MSE taken over all samples (all of R, G and B)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
