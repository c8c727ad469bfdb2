"""AVIF (AV1 intra) through Pillow's libavif: libaom encoder, dav1d decoder."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from lnic.bench.codecs.base import Codec, CodecUnavailable, pil_decode, pil_encode

__all__ = ["AvifCodec", "AvifSlowCodec"]


def _ensure_avif() -> None:
    """Make Pillow able to write AVIF: built in since Pillow 11.3, else pillow-avif-plugin."""
    from PIL import Image

    Image.init()
    if "AVIF" in Image.SAVE:
        return
    try:
        import pillow_avif  # noqa: F401  (registers the AVIF plugin with Pillow)
    except ImportError:
        raise ImportError("no AVIF support: needs Pillow >= 11.3 or pillow-avif-plugin") from None
    if "AVIF" not in Image.SAVE:
        raise ImportError("no AVIF support: needs Pillow >= 11.3 or pillow-avif-plugin")


class AvifCodec(Codec):
    """AVIF (AV1 intra, libaom) through Pillow's libavif, 4:4:4, full range, tuned for PSNR."""

    name = "avif"
    description = (
        "AVIF (Pillow/libavif, libaom encoder speed 6 tune=psnr, dav1d decoder), 4:4:4, "
        "1 thread; setting = quality 0-100"
    )
    default_settings = ("5", "15", "25", "35", "45", "55", "65", "72", "80")
    speed: ClassVar[int] = 6

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        _ensure_avif()
        return pil_encode(
            rgb,
            "AVIF",
            quality=int(float(setting)),
            speed=self.speed,
            subsampling="4:4:4",
            codec="aom",
            max_threads=1,
            advanced={"tune": "psnr"},
        )

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)

    def version(self) -> str:
        import PIL
        from PIL import Image, features

        _ensure_avif()
        plugin = getattr(Image.SAVE["AVIF"], "__module__", "?")
        avif = features.version("avif") or "unknown"
        codecs = "?"
        try:
            mod = __import__(plugin.rsplit(".", 1)[0] + "._avif", fromlist=["codec_versions"])
            codecs = mod.codec_versions()
        except (ImportError, AttributeError, ValueError):
            pass
        return f"Pillow {PIL.__version__} ({plugin}), libavif {avif}, {codecs}"

    def check_available(self) -> None:
        super().check_available()
        from PIL import Image

        mod_name = getattr(Image.SAVE["AVIF"], "__module__", "PIL.AvifImagePlugin")
        try:
            mod = __import__(mod_name.rsplit(".", 1)[0] + "._avif", fromlist=["x"])
            if not mod.encoder_codec_available("aom"):
                raise CodecUnavailable("avif: libavif was built without the libaom encoder")
        except (ImportError, AttributeError):
            pass


class AvifSlowCodec(AvifCodec):
    """AVIF at libaom speed 4 (about 6x slower than speed 6, about 10% fewer bits)."""

    name = "avif-s4"
    description = (
        "AVIF (Pillow/libavif, libaom encoder speed 4 tune=psnr, dav1d decoder), 4:4:4, "
        "1 thread; setting = quality 0-100"
    )
    speed = 4
