"""Codecs that ``lnic bench`` can run: classical codecs through their Python bindings, and lnic.

Every codec runs its real encoder and decoder, and the rate is the length of the real file the
encoder produced. A codec (:class:`Codec`) has a ``name``, a default sweep of ``settings``
(strings, as stored in the results CSV), ``encode(rgb, setting) -> bytes``,
``decode(data) -> rgb`` and ``version()``. :data:`CODECS` maps names to the classical codecs;
:func:`get_codec` also understands ``lnic:PRESET``.
"""

from __future__ import annotations

from lnic.bench.codecs.avif import AvifCodec, AvifSlowCodec
from lnic.bench.codecs.base import Codec, CodecUnavailable
from lnic.bench.codecs.heic import HeicCodec
from lnic.bench.codecs.jxl import JxlCodec
from lnic.bench.codecs.lnic_codec import LnicCodec, preset_of
from lnic.bench.codecs.pillow import Jpeg444Codec, Jpeg2000Codec, JpegCodec, WebpCodec

__all__ = [
    "CODECS",
    "DEFAULT_CODECS",
    "Codec",
    "CodecUnavailable",
    "LnicCodec",
    "codec_name",
    "get_codec",
    "preset_of",
]

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


def get_codec(spec: str) -> Codec:
    """Build a codec from a command-line spec: a registry name or ``lnic[:PRESET]``."""
    spec = spec.strip()
    base, _, arg = spec.partition(":")
    if base == "lnic":
        return LnicCodec(arg or "default")
    if arg:
        raise ValueError(f"codec {base!r} takes no ':' argument")
    if base not in CODECS:
        known = ", ".join([*CODECS, "lnic:PRESET"])
        raise ValueError(f"unknown codec {spec!r} (known: {known})")
    return CODECS[base]()
