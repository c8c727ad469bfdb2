"""The fixed-size header at the start of every .lnic file (see docs/format.md)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from lnic.errors import BitstreamError
from lnic.format import FORMAT_VERSION, MAGIC, MAX_DIMENSION, MAX_LEVELS, MAX_PIXELS
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
}
"""The header's fields in file order, with their ``struct`` codes (little-endian, no padding);
the last three are the sizes of the sections that follow."""

_LAYOUT = struct.Struct("<" + "".join(HEADER_FIELDS.values()))
_PREFIX = struct.Struct("<" + HEADER_FIELDS["magic"] + HEADER_FIELDS["version"])
HEADER_SIZE = _LAYOUT.size

_ARCH_FIELDS = ("channels", "levels", "arm_hidden", "arm_layers", "synth_hidden")


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

    @property
    def channels(self) -> int:
        return self.arch.channels

    def pack(self) -> bytes:
        values = {
            "magic": MAGIC,
            "version": self.version,
            "width": self.width,
            "height": self.height,
            **{name: getattr(self.arch, name) for name in _ARCH_FIELDS},
            "weight_bytes": self.weight_bytes,
            "latent_bytes": self.latent_bytes,
            "escape_bytes": self.escape_bytes,
        }
        return _LAYOUT.pack(*(values[name] for name in HEADER_FIELDS))

    @classmethod
    def unpack(cls, data: bytes) -> Header:
        """Parse and validate a header; raises :class:`BitstreamError` on anything odd."""
        if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
            raise BitstreamError("not an lnic file (wrong magic bytes)")
        if len(data) < _PREFIX.size:
            raise BitstreamError("truncated header")
        _, version = _PREFIX.unpack_from(data)
        if version != FORMAT_VERSION:
            raise BitstreamError(
                f"unsupported format version {version} (this lnic reads version {FORMAT_VERSION})"
            )
        if len(data) < HEADER_SIZE:
            raise BitstreamError("truncated header")
        f = dict(zip(HEADER_FIELDS, _LAYOUT.unpack_from(data)))
        width, height = f["width"], f["height"]
        if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
            raise BitstreamError(
                f"declared size {width}x{height} outside 1..{MAX_DIMENSION} per side"
            )
        if width * height > MAX_PIXELS:
            raise BitstreamError(f"declared size {width}x{height} exceeds {MAX_PIXELS} pixels")
        arch = Architecture(**{name: f[name] for name in _ARCH_FIELDS})
        _check_architecture(arch, width, height)
        return cls(
            width, height, arch, f["weight_bytes"], f["latent_bytes"], f["escape_bytes"], version
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
