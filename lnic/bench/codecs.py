"""Codecs that ``lnic bench`` can run: classical codecs through their Python bindings, and lnic.

Every codec runs its real encoder and decoder, and the rate is the length of the real file the
encoder produced. A codec is a small object with a ``name``, a default sweep of ``settings``
(strings, as stored in the results CSV), ``encode(rgb, setting) -> bytes``,
``decode(data) -> rgb`` and ``version()``. :data:`CODECS` maps names to classes;
:func:`get_codec` also understands ``lnic:PRESET``.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np

__all__ = ["CODECS", "Codec", "CodecUnavailable", "available_codecs", "get_codec"]


class CodecUnavailable(RuntimeError):
    """The Python package or library that a codec needs is missing."""


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Return a C-contiguous (H, W, 3) uint8 array (grayscale is replicated, alpha dropped)."""
    x = np.asarray(image)
    if x.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {x.dtype}")
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    if x.ndim != 3 or x.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) image, got shape {x.shape}")
    return np.ascontiguousarray(x[:, :, :3])


def _pil_decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return _as_rgb(np.asarray(im.convert("RGB")))


def _pil_encode(rgb: np.ndarray, fmt: str, **options: object) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_as_rgb(rgb), mode="RGB").save(buf, format=fmt, **options)
    return buf.getvalue()


def _pillow_version(feature: str, label: str) -> str:
    import PIL
    from PIL import features

    lib = features.version(feature) or "unknown"
    return f"Pillow {PIL.__version__}, {label} {lib}"


def _jpeg_library() -> str:
    from PIL import features

    if features.check_feature("libjpeg_turbo"):
        return f"libjpeg-turbo {features.version_feature('libjpeg_turbo')}"
    return f"libjpeg {features.version('jpg') or 'unknown'}"


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


class JpegCodec(Codec):
    """Baseline JPEG through Pillow (libjpeg-turbo), 4:2:0 chroma, optimized Huffman tables."""

    name = "jpeg"
    description = "JPEG (Pillow/libjpeg-turbo), 4:2:0, optimize=True; setting = quality 1-100"
    default_settings = ("3", "5", "10", "20", "30", "45", "60", "75", "85")
    setting_range = (1.0, 100.0)
    subsampling: ClassVar[int] = 2  # Pillow: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        return _pil_encode(
            rgb, "JPEG", quality=int(float(setting)), subsampling=self.subsampling, optimize=True
        )

    def decode(self, data: bytes) -> np.ndarray:
        return _pil_decode(data)

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
        return _pil_encode(rgb, "WEBP", quality=int(float(setting)), method=6)

    def decode(self, data: bytes) -> np.ndarray:
        return _pil_decode(data)

    def version(self) -> str:
        return _pillow_version("webp", "libwebp")


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
        return _pil_encode(
            rgb, "JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True, mct=1
        )

    def decode(self, data: bytes) -> np.ndarray:
        return _pil_decode(data)

    def version(self) -> str:
        return _pillow_version("jpg_2000", "OpenJPEG")


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
        return _pil_encode(
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
        return _pil_decode(data)

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
            imagecodecs.jpegxl_encode(_as_rgb(rgb), distance=float(setting), effort=7, numthreads=1)
        )

    def decode(self, data: bytes) -> np.ndarray:
        import imagecodecs

        return _as_rgb(imagecodecs.jpegxl_decode(data, numthreads=1))

    def version(self) -> str:
        import imagecodecs

        lib = imagecodecs.version(dict).get("libjxl", "unknown")
        return f"imagecodecs {imagecodecs.__version__}, libjxl {lib}"

    def check_available(self) -> None:
        super().check_available()
        import imagecodecs

        if not imagecodecs.JPEGXL.available:
            raise CodecUnavailable("jxl: imagecodecs was built without libjxl")


class HeicCodec(Codec):
    """HEIC (HEVC intra, x265) through pillow-heif's libheif, 4:4:4, tuned for PSNR.

    x265 runs with preset slow, tune psnr and a chroma QP offset of -3 (cbqpoffs = crqpoffs =
    -3), which lowered the BD-rate in PSNR-RGB by about 12 points on a 6-image calibration.
    """

    name = "heic"
    description = (
        "HEIC (pillow-heif/libheif, x265 preset slow, tune psnr, chroma QP offset -3; libde265 "
        "decoder), YCbCr 4:4:4 (BT.601 full range); setting = quality 0-100"
    )
    default_settings = ("5", "10", "15", "20", "25", "30", "35", "40", "45", "50")
    #: x265 options (a fresh dict per call: pillow-heif adds keys to the one it gets)
    x265_params: ClassVar[tuple[tuple[str, str], ...]] = (
        ("preset", "slow"),
        ("tune", "psnr"),
        ("x265:cbqpoffs", "-3"),
        ("x265:crqpoffs", "-3"),
    )

    def encode(self, rgb: np.ndarray, setting: str) -> bytes:
        import pillow_heif

        x = _as_rgb(rgb)
        buf = io.BytesIO()
        pillow_heif.encode(
            "RGB",
            (x.shape[1], x.shape[0]),
            x.tobytes(),
            buf,
            quality=int(float(setting)),
            chroma=444,
            enc_params=dict(self.x265_params),
        )
        return buf.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        import pillow_heif

        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        return _as_rgb(np.asarray(heif))

    def version(self) -> str:
        import pillow_heif

        info = pillow_heif.libheif_info()
        enc = info.get("encoders", {}).get("x265") or info.get("HEIF") or "no HEVC encoder"
        dec = info.get("decoders", {}).get("libde265", "")
        return f"pillow-heif {pillow_heif.__version__}, libheif {info.get('libheif')}, {enc}, {dec}"

    def check_available(self) -> None:
        super().check_available()
        import pillow_heif

        if not pillow_heif.libheif_info().get("HEIF"):
            raise CodecUnavailable("heic: libheif has no HEVC encoder")


class LnicCodec(Codec):
    """lnic itself, through the public Python API ``lnic.encode`` / ``lnic.decode``.

    The import is lazy so that the harness works before (or without) the codec.
    """

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

        return bytes(lnic.encode(_as_rgb(rgb), quality=int(setting), preset=self.preset))

    def decode(self, data: bytes) -> np.ndarray:
        import lnic

        return _as_rgb(np.asarray(lnic.decode(data)))

    def version(self) -> str:
        import lnic

        return f"lnic {lnic.__version__} (preset {self.preset})"


#: classical codecs by name
CODECS: dict[str, type[Codec]] = {
    cls.name: cls
    for cls in (
        JpegCodec,
        Jpeg444Codec,
        WebpCodec,
        Jpeg2000Codec,
        AvifCodec,
        AvifSlowCodec,
        JxlCodec,
        HeicCodec,
    )
}

#: the default ``--codecs`` list of ``lnic bench``
DEFAULT_CODECS = ("jpeg", "jpeg444", "webp", "jpeg2000", "avif", "jxl", "heic")


def codec_name(codec: Codec) -> str:
    """Name of a codec instance as used in the CSV ``codec`` column and the file name."""
    return codec.codec_name if isinstance(codec, LnicCodec) else codec.name


def get_codec(spec: str, factories: dict[str, Callable[[], Codec]] | None = None) -> Codec:
    """Build a codec from a command-line spec: a registry name or ``lnic[:PRESET]``."""
    spec = spec.strip()
    if factories and spec in factories:
        return factories[spec]()
    base, _, arg = spec.partition(":")
    if base == "lnic":
        return LnicCodec(arg or "default")
    if arg:
        raise ValueError(f"codec {base!r} takes no ':' argument")
    if base not in CODECS:
        known = ", ".join([*CODECS, "lnic:PRESET"])
        raise ValueError(f"unknown codec {spec!r} (known: {known})")
    return CODECS[base]()


def available_codecs() -> dict[str, str]:
    """Map each classical codec to its version line, or to the reason it cannot run."""
    out: dict[str, str] = {}
    for name, cls in CODECS.items():
        try:
            codec = cls()
            codec.check_available()
            out[name] = codec.version()
        except (CodecUnavailable, ImportError) as exc:
            out[name] = f"unavailable: {exc}"
    return out
