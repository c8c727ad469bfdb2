"""lnic itself as a codec of ``lnic bench``, through the public API ``lnic.encode`` / ``decode``.

The import of lnic is lazy so that the harness works before (or without) the codec.
"""

from __future__ import annotations

import numpy as np

from lnic.bench.codecs.base import Codec, as_rgb

__all__ = ["LnicCodec"]


class LnicCodec(Codec):
    """lnic at one encoder preset; the setting is the quality."""

    name = "lnic"
    description = "lnic (this project); setting = quality 1-8"
    default_settings = ("1", "2", "3", "4", "5", "6")
    setting_range = (1.0, 8.0)

    def __init__(self, preset: str = "default") -> None:
        self.preset = preset

    @property
    def codec_name(self) -> str:
        """Name in the CSV: ``lnic-PRESET``."""
        return f"lnic-{self.preset}"

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        import lnic

        return bytes(lnic.encode(as_rgb(rgb), quality=int(setting), preset=self.preset))

    def decode(self, data: bytes) -> np.ndarray:
        import lnic

        return as_rgb(np.asarray(lnic.decode(data)))

    def version(self) -> str:
        import lnic

        return f"lnic {lnic.__version__} (preset {self.preset})"
