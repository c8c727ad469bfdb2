"""The fixed-size header at the start of every .lnic file (see docs/format.md)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from lnic.errors import BitstreamError
from lnic.format import (
    FLAGS_SINCE_VERSION,
    FORMAT_VERSION,
    KNOWN_FLAGS,
    MAGIC,
    MAX_DIMENSION,
    MAX_LEVELS,
    MAX_PIXELS,
    PROB_BITS_OF_VERSION,
    READABLE_VERSIONS,
)
from lnic.model.architecture import Architecture
from lnic.model.latents import num_levels

HEADER_FIELDS: dict[str, str] = {
    "magic": "4s",
    "version": "B",
    "width": "H",
    "height": "H",
    "channels": "B",
    "levels": "B",
    "arm_hidden": "B",
    "arm_layers": "B",
    "synth_hidden": "B",
    "weight_bytes": "I",
    "latent_bytes": "I",
    "escape_bytes": "I",
    "flags": "B",
}
"""The header's fields in file order, with their ``struct`` codes (little-endian, no padding):
the sizes of the three coded sections, then the flags that announce optional sections. A
version 3 header ends before ``flags``."""

_V3_FIELDS = tuple(HEADER_FIELDS)[:-1]


def _fields(version: int) -> tuple[str, ...]:
    return tuple(HEADER_FIELDS) if version >= FLAGS_SINCE_VERSION else _V3_FIELDS


_LAYOUTS = {
    version: struct.Struct("<" + "".join(HEADER_FIELDS[n] for n in _fields(version)))
    for version in READABLE_VERSIONS
}
_PREFIX = struct.Struct("<" + HEADER_FIELDS["magic"] + HEADER_FIELDS["version"])
HEADER_SIZE = _LAYOUTS[FORMAT_VERSION].size
"""Size of the header this version writes."""

_ARCH_FIELDS = ("channels", "levels", "arm_hidden", "arm_layers", "synth_hidden")


def header_size(version: int) -> int:
    """Bytes of the header of a file of format ``version`` (one of ``READABLE_VERSIONS``)."""
    return _LAYOUTS[version].size


def field_offset(name: str) -> int:
    """Byte offset of header field ``name`` in the file."""
    names = list(HEADER_FIELDS)
    return struct.calcsize("<" + "".join(HEADER_FIELDS[n] for n in names[: names.index(name)]))


@dataclass(frozen=True)
class Header:
    """What a decoder must know before reading the sections."""

    width: int
    height: int
    arch: Architecture
    weight_bytes: int
    latent_bytes: int
    escape_bytes: int
    version: int = FORMAT_VERSION
    flags: int = 0
    """Bits of :data:`lnic.format.KNOWN_FLAGS`: the optional sections that follow the header."""

    @property
    def channels(self) -> int:
        return self.arch.channels

    @property
    def prob_bits(self) -> int:
        """Precision of the probability table this file's latents are coded with."""
        return PROB_BITS_OF_VERSION[self.version]

    @property
    def size(self) -> int:
        """Bytes of this header in the file."""
        return header_size(self.version)

    def pack(self) -> bytes:
        """The header's bytes; older versions are written for tests of old files."""
        if self.version not in _LAYOUTS:
            raise ValueError(f"cannot write format version {self.version}")
        if self.flags & ~KNOWN_FLAGS or (self.version < FLAGS_SINCE_VERSION and self.flags):
            raise ValueError(f"flags {self.flags:#x} are not defined in version {self.version}")
        values = {
            "magic": MAGIC,
            "version": self.version,
            "width": self.width,
            "height": self.height,
            **{name: getattr(self.arch, name) for name in _ARCH_FIELDS},
            "weight_bytes": self.weight_bytes,
            "latent_bytes": self.latent_bytes,
            "escape_bytes": self.escape_bytes,
            "flags": self.flags,
        }
        return _LAYOUTS[self.version].pack(*(values[name] for name in _fields(self.version)))

    @classmethod
    def unpack(cls, data: bytes) -> Header:
        """Parse and validate a header; raises :class:`BitstreamError` on anything odd."""
        if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
            raise BitstreamError("not an lnic file (wrong magic bytes)")
        if len(data) < _PREFIX.size:
            raise BitstreamError("truncated header")
        _, version = _PREFIX.unpack_from(data)
        if version not in READABLE_VERSIONS:
            known = ", ".join(str(v) for v in READABLE_VERSIONS)
            raise BitstreamError(
                f"unsupported format version {version} (this lnic reads versions {known})"
            )
        layout = _LAYOUTS[version]
        if len(data) < layout.size:
            raise BitstreamError("truncated header")
        f = dict(zip(_fields(version), layout.unpack_from(data)))
        width, height = f["width"], f["height"]
        if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
            raise BitstreamError(
                f"declared size {width}x{height} outside 1..{MAX_DIMENSION} per side"
            )
        if width * height > MAX_PIXELS:
            raise BitstreamError(f"declared size {width}x{height} exceeds {MAX_PIXELS} pixels")
        flags = f.get("flags", 0)
        if flags & ~KNOWN_FLAGS:
            raise BitstreamError(f"unknown header flags {flags:#04x}")
        arch = Architecture(**{name: f[name] for name in _ARCH_FIELDS})
        _check_architecture(arch, width, height)
        return cls(
            width,
            height,
            arch,
            f["weight_bytes"],
            f["latent_bytes"],
            f["escape_bytes"],
            version,
            flags,
        )


def _check_architecture(arch: Architecture, width: int, height: int) -> None:
    """Refuse an architecture this decoder cannot run (or that no encoder writes)."""
    if arch.channels not in (1, 3):
        raise BitstreamError(f"unsupported channel count {arch.channels}")
    if not 1 <= arch.levels <= min(MAX_LEVELS, num_levels(height, width)):
        raise BitstreamError(f"invalid number of latent grids {arch.levels}")
    if not (
        1 <= arch.arm_hidden <= 64 and 1 <= arch.arm_layers <= 4 and 1 <= arch.synth_hidden <= 128
    ):
        raise BitstreamError("invalid architecture in header")
