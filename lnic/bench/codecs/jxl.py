"""JPEG XL through imagecodecs' libjxl."""

from __future__ import annotations

import numpy as np

from lnic.bench.codecs.base import Codec, CodecUnavailable, as_rgb

__all__ = ["JxlCodec"]


class JxlCodec(Codec):
    """JPEG XL (libjxl VarDCT) through imagecodecs, effort 7."""

    name = "jxl"
    description = (
        "JPEG XL (imagecodecs/libjxl), VarDCT, effort 7, 1 thread; "
        "setting = butteraugli distance (smaller = better)"
    )
    default_settings = ("25", "15", "10", "6", "4", "2.8", "2", "1.4", "1")
    setting_range = (0.01, 25.0)
    integer_setting = False

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        import imagecodecs

        return bytes(
            imagecodecs.jpegxl_encode(as_rgb(rgb), distance=float(setting), effort=7, numthreads=1)
        )

    def decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return as_rgb(imagecodecs.jpegxl_decode(data, numthreads=1))

    def version(self) -> str:
        import imagecodecs

        lib = imagecodecs.version(dict).get("libjxl", "unknown")
        return f"imagecodecs {imagecodecs.__version__}, libjxl {lib}"

    def check_available(self) -> None:
        super().check_available()
        import imagecodecs

        if not imagecodecs.JPEGXL.available:
            raise CodecUnavailable("jxl: imagecodecs was built without libjxl")
