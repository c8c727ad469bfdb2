"""lnic itself as a codec of ``lnic bench``, through the public API ``lnic.encode`` / ``decode``.

The import of lnic is lazy so that the harness works before (or without) the codec.
"""

from __future__ import annotations

import numpy as np

from lnic.bench.codecs.base import Codec, as_rgb
from lnic.encoder.presets import DEFAULT_PRESET  # (no torch: the harness runs without it)

__all__ = ["LnicCodec", "preset_of"]


class LnicCodec(Codec):
    """lnic at one encoder preset; the setting is the quality, written ``qN`` (``q4``).

    ``qN`` is how every lnic results CSV names a quality, so a run resumes their rows.
    """

    name = "lnic"
    description = "lnic (this project); setting = quality q1-q8"
    default_settings = ("q1", "q2", "q3", "q4", "q5", "q6")
    setting_range = (1.0, 8.0)

    def __init__(self, preset: str = DEFAULT_PRESET) -> None:
        self.preset = preset

    @property
    def codec_name(self) -> str:
        """Name in the CSV: ``lnic`` for the default preset (the codec a user gets), else
        ``lnic-PRESET``."""
        return self.name if self.preset == DEFAULT_PRESET else f"{self.name}-{self.preset}"

    def validate_setting(self, setting: str) -> str:
        """``q4``, ``Q4`` and ``4`` all give ``q4``."""
        text = setting.strip()
        number = text[1:] if text[:1] in ("q", "Q") else text
        return "q" + super().validate_setting(number)

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        import lnic

        quality = int(setting.strip().lstrip("qQ"))
        return bytes(lnic.encode(as_rgb(rgb), quality=quality, preset=self.preset))

    def decode(self, data: bytes) -> np.ndarray:
        import lnic

        return as_rgb(np.asarray(lnic.decode(data)))

    def version(self) -> str:
        import lnic

        return f"lnic {lnic.__version__} (preset {self.preset})"


def preset_of(codec: str) -> str | None:
    """The preset in an lnic codec name (``lnic-fast`` -> ``fast``, ``lnic`` -> ``default``);
    None for other codecs."""
    if codec == LnicCodec.name:
        return DEFAULT_PRESET
    prefix = f"{LnicCodec.name}-"
    return codec[len(prefix) :] if codec.startswith(prefix) else None
