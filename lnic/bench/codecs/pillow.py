"""JPEG, WebP and JPEG 2000 through Pillow's own libraries (libjpeg-turbo, libwebp, OpenJPEG)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from lnic.bench.codecs.base import Codec, pil_decode, pil_encode, pillow_version

__all__ = ["Jpeg2000Codec", "Jpeg444Codec", "JpegCodec", "WebpCodec"]


def _jpeg_library() -> str:
    from PIL import features

    if features.check_feature("libjpeg_turbo"):
        return f"libjpeg-turbo {features.version_feature('libjpeg_turbo')}"
    return f"libjpeg {features.version('jpg') or 'unknown'}"


class JpegCodec(Codec):
    """Baseline JPEG through Pillow (libjpeg-turbo), 4:2:0 chroma, optimized Huffman tables."""

    name = "jpeg"
    description = "JPEG (Pillow/libjpeg-turbo), 4:2:0, optimize=True; setting = quality 1-100"
    default_settings = ("3", "5", "10", "20", "30", "45", "60", "75", "85")
    setting_range = (1.0, 100.0)
    subsampling: ClassVar[int] = 2  # Pillow: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        return pil_encode(
            rgb, "JPEG", quality=int(float(setting)), subsampling=self.subsampling, optimize=True
        )

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)

    def version(self) -> str:
        import PIL

        return f"Pillow {PIL.__version__}, {_jpeg_library()}"


class Jpeg444Codec(JpegCodec):
    """JPEG with full-resolution chroma (4:4:4)."""

    name = "jpeg444"
    description = "JPEG (Pillow/libjpeg-turbo), 4:4:4, optimize=True; setting = quality 1-100"
    subsampling = 0


class WebpCodec(Codec):
    """Lossy WebP (VP8 intra, 4:2:0) through Pillow's libwebp."""

    name = "webp"
    description = "WebP lossy (Pillow/libwebp), method=6, 4:2:0; setting = quality 0-100"
    default_settings = ("0", "10", "25", "40", "55", "70", "80", "88")

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        return pil_encode(rgb, "WEBP", quality=int(float(setting)), method=6)

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)

    def version(self) -> str:
        return pillow_version("webp", "libwebp")


class Jpeg2000Codec(Codec):
    """JPEG 2000 (.jp2) through Pillow's OpenJPEG, 9/7 wavelet with the colour transform."""

    name = "jpeg2000"
    description = (
        "JPEG 2000 .jp2 (Pillow/OpenJPEG), irreversible 9/7 + ICT, one layer at a target rate; "
        "setting = target bits/pixel"
    )
    default_settings = ("0.1", "0.2", "0.35", "0.5", "0.75", "1", "1.5", "2")
    setting_range = (0.001, 23.9)
    integer_setting = False

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        ratio = 24.0 / float(setting)  # compression ratio against 24-bit RGB
        return pil_encode(
            rgb, "JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True, mct=1
        )

    def decode(self, data: bytes) -> np.ndarray:
        return pil_decode(data)

    def version(self) -> str:
        return pillow_version("jpg_2000", "OpenJPEG")
