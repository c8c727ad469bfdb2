"""The codec interface of ``lnic bench`` and the image conversions its codecs share."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

__all__ = ["Codec", "CodecUnavailable", "as_rgb", "pil_decode", "pil_encode", "pillow_version"]


class CodecUnavailable(RuntimeError):
    """The Python package or library that a codec needs is missing."""


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Return a C-contiguous (H, W, 3) uint8 array (grayscale is replicated, alpha dropped)."""
    x = np.asarray(image)
    if x.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {x.dtype}")
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    if x.ndim != 3 or x.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) image, got shape {x.shape}")
    return np.ascontiguousarray(x[:, :, :3])


def pil_decode(data: bytes) -> np.ndarray:
    """Decode any file Pillow reads to (H, W, 3) uint8."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return as_rgb(np.asarray(im.convert("RGB")))


def pil_encode(rgb: np.ndarray, fmt: str, **options: object) -> bytes:
    """Encode an RGB image with Pillow's writer for ``fmt`` and its ``options``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(as_rgb(rgb), mode="RGB").save(buf, format=fmt, **options)
    return buf.getvalue()


def pillow_version(feature: str, label: str) -> str:
    """Pillow's version and that of the library behind one of its ``feature``s."""
    import PIL
    from PIL import features

    lib = features.version(feature) or "unknown"
    return f"Pillow {PIL.__version__}, {label} {lib}"


class Codec(ABC):
    """One codec at a sweep of settings."""

    #: name used on the command line, in the CSV ``codec`` column and as the CSV file name
    name: ClassVar[str] = ""
    #: one line: encoder, options, what the setting means
    description: ClassVar[str] = ""
    #: default sweep (chosen so the mean curve spans about 0.1-2 bpp on Kodak)
    default_settings: ClassVar[tuple[str, ...]] = ()
    #: inclusive range of valid settings
    setting_range: ClassVar[tuple[float, float]] = (0.0, 100.0)
    #: whether settings must be integers
    integer_setting: ClassVar[bool] = True

    @property
    def settings(self) -> list[str]:
        """Default sweep of settings, as strings."""
        return list(self.default_settings)

    @abstractmethod
    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        """Encode an (H, W, 3) uint8 image at one setting; returns the file bytes."""

    @abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """Decode file bytes to an (H, W, 3) uint8 image."""

    @abstractmethod
    def version(self) -> str:
        """Versions of the Python package and the codec library (one line)."""

    def check_available(self) -> None:
        """Raise :class:`CodecUnavailable` if the codec cannot run here."""
        try:
            self.version()
        except ImportError as exc:
            raise CodecUnavailable(f"{self.name}: {exc}") from exc

    def validate_setting(self, setting: str) -> str:
        """Return the canonical string of a setting, or raise ``ValueError``."""
        try:
            value = float(setting)
        except ValueError:
            raise ValueError(f"{self.name}: setting must be a number, got {setting!r}") from None
        lo, hi = self.setting_range
        if not lo <= value <= hi:
            raise ValueError(f"{self.name}: setting must be in [{lo:g}, {hi:g}], got {setting!r}")
        if self.integer_setting and not value.is_integer():
            raise ValueError(f"{self.name}: setting must be an integer, got {setting!r}")
        return str(int(value)) if value.is_integer() else repr(value)
