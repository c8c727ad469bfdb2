"""The fixed-size header at the start of every .lnic file (see docs/format.md)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from lnic.errors import BitstreamError
from lnic.format import FORMAT_VERSION, MAGIC, MAX_DIMENSION, MAX_LEVELS, MAX_PIXELS
from lnic.model.architecture import Architecture
from lnic.model.latents import num_levels

# magic, version, width, height, channels, levels, arm_hidden, arm_layers, synth_hidden,
# bytes of: weights, range-coded latents, latent escapes
_LAYOUT = struct.Struct("<4sBHHBBBBBIII")
HEADER_SIZE = _LAYOUT.size


@dataclass(frozen=True)
class Header:
    """What a decoder must know before reading the sections."""

    width: int
    height: int
    arch: Architecture
    weight_bytes: int
    latent_bytes: int
    escape_bytes: int

    @property
    def channels(self) -> int:
        return self.arch.channels

    def pack(self) -> bytes:
        a = self.arch
        return _LAYOUT.pack(
            MAGIC,
            FORMAT_VERSION,
            self.width,
            self.height,
            a.channels,
            a.levels,
            a.arm_hidden,
            a.arm_layers,
            a.synth_hidden,
            self.weight_bytes,
            self.latent_bytes,
            self.escape_bytes,
        )

    @classmethod
    def unpack(cls, data: bytes) -> Header:
        """Parse and validate a header; raises :class:`BitstreamError` on anything odd."""
        if len(data) < 4 or data[:4] != MAGIC:
            raise BitstreamError("not an lnic file (wrong magic bytes)")
        if len(data) < 5:
            raise BitstreamError("truncated header")
        if data[4] != FORMAT_VERSION:
            raise BitstreamError(
                f"unsupported format version {data[4]} (this lnic reads version {FORMAT_VERSION})"
            )
        if len(data) < HEADER_SIZE:
            raise BitstreamError("truncated header")
        (
            _,
            _,
            width,
            height,
            channels,
            levels,
            arm_hidden,
            arm_layers,
            synth_hidden,
            weight_bytes,
            latent_bytes,
            escape_bytes,
        ) = _LAYOUT.unpack_from(data)
        if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
            raise BitstreamError(
                f"declared size {width}x{height} outside 1..{MAX_DIMENSION} per side"
            )
        if width * height > MAX_PIXELS:
            raise BitstreamError(f"declared size {width}x{height} exceeds {MAX_PIXELS} pixels")
        if channels not in (1, 3):
            raise BitstreamError(f"unsupported channel count {channels}")
        if not 1 <= levels <= min(MAX_LEVELS, num_levels(height, width)):
            raise BitstreamError(f"invalid number of latent grids {levels}")
        if not (1 <= arm_hidden <= 64 and 1 <= arm_layers <= 4 and 1 <= synth_hidden <= 128):
            raise BitstreamError("invalid architecture in header")
        arch = Architecture(levels, arm_hidden, arm_layers, synth_hidden, channels)
        return cls(width, height, arch, weight_bytes, latent_bytes, escape_bytes)
