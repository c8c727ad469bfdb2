"""Whole .lnic files: header, three sections, CRC-32.

``header | weights | range-coded latents | latent escapes | crc32(all before), little-endian``
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, replace

from lnic.bitstream.header import HEADER_SIZE, Header
from lnic.errors import BitstreamError

_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class Sections:
    """The raw parts of a file."""

    header: Header
    weights: bytes
    latents: bytes
    escapes: bytes

    def section_bytes(self) -> dict[str, int]:
        """Bytes per part of the file, as ``lnic info`` and ``lnic encode --json`` report them:
        the header with the checksum, the weights, the latents with their escapes."""
        return {
            "header": HEADER_SIZE + _CRC.size,
            "weights": len(self.weights),
            "latents": len(self.latents) + len(self.escapes),
        }


def pack_file(header: Header, weights: bytes, latents: bytes, escapes: bytes) -> bytes:
    """A whole file; the header's section sizes are set from the sections given."""
    header = replace(
        header, weight_bytes=len(weights), latent_bytes=len(latents), escape_bytes=len(escapes)
    )
    body = header.pack() + weights + latents + escapes
    return body + _CRC.pack(zlib.crc32(body))


def unpack_file(data: bytes) -> Sections:
    """Split and check a file; any inconsistency raises :class:`BitstreamError`."""
    if not data:
        raise BitstreamError("empty file")
    header = Header.unpack(data)
    expected = (
        HEADER_SIZE + header.weight_bytes + header.latent_bytes + header.escape_bytes + _CRC.size
    )
    if len(data) < expected:
        raise BitstreamError(f"truncated file ({len(data)} of {expected} bytes)")
    if len(data) > expected:
        raise BitstreamError(f"trailing data after the bitstream ({len(data) - expected} bytes)")
    body = data[: -_CRC.size]
    if _CRC.unpack(data[-_CRC.size :])[0] != zlib.crc32(body):
        raise BitstreamError("checksum mismatch: the file is corrupt")
    a = HEADER_SIZE
    b = a + header.weight_bytes
    c = b + header.latent_bytes
    return Sections(header, body[a:b], body[b:c], body[c:])
