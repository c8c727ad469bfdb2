"""Whole .lnic files: header, optional metadata, three coded sections, CRC-32.

``header | [icc_length (u32) | icc_profile] | weights | latents | escapes | crc32(all before)``

The ICC profile is present when the header's :data:`~lnic.format.FLAG_ICC_PROFILE` bit is set;
it comes right after the header, so a reader learns the image's size, channels and colour
space from the first bytes of the file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, replace

from lnic.bitstream.header import Header
from lnic.errors import BitstreamError
from lnic.format import FLAG_ICC_PROFILE, FLAGS_SINCE_VERSION, MAX_ICC_BYTES

_CRC = struct.Struct("<I")
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class Sections:
    """The raw parts of a file."""

    header: Header
    weights: bytes
    latents: bytes
    escapes: bytes
    icc_profile: bytes | None = None
    """The image's colour profile (ICC bytes) when the file carries one."""

    def section_bytes(self) -> dict[str, int]:
        """Bytes per part of the file, as ``lnic info`` and ``lnic encode --json`` report them:
        the header with the checksum, the metadata (ICC profile with its length), the weights,
        the latents with their escapes."""
        return {
            "header": self.header.size + _CRC.size,
            "metadata": _metadata_size(self.icc_profile),
            "weights": len(self.weights),
            "latents": len(self.latents) + len(self.escapes),
        }


def _metadata_size(icc_profile: bytes | None) -> int:
    return 0 if icc_profile is None else _LENGTH.size + len(icc_profile)


def _check_icc_length(n: int) -> None:
    if not 1 <= n <= MAX_ICC_BYTES:
        raise BitstreamError(f"ICC profile of {n} bytes outside 1..{MAX_ICC_BYTES}")


def pack_file(
    header: Header,
    weights: bytes,
    latents: bytes,
    escapes: bytes,
    icc_profile: bytes | None = None,
) -> bytes:
    """A whole file; the header's section sizes and flags are set from the sections given."""
    flags = header.flags & ~FLAG_ICC_PROFILE
    metadata = b""
    if icc_profile is not None:
        icc_profile = bytes(icc_profile)
        _check_icc_length(len(icc_profile))
        flags |= FLAG_ICC_PROFILE
        metadata = _LENGTH.pack(len(icc_profile)) + icc_profile
    header = replace(
        header,
        weight_bytes=len(weights),
        latent_bytes=len(latents),
        escape_bytes=len(escapes),
        flags=flags,
    )
    body = header.pack() + metadata + weights + latents + escapes
    return body + _CRC.pack(zlib.crc32(body))


def unpack_prefix(data: bytes) -> tuple[Header, bytes | None]:
    """The header and the ICC profile from the first bytes of a file, without the checksum
    (what an image viewer needs before decoding). Raises :class:`BitstreamError` if ``data``
    ends before them."""
    if not data:
        raise BitstreamError("empty file")
    header = Header.unpack(data)
    if not header.flags & FLAG_ICC_PROFILE:
        return header, None
    start = header.size + _LENGTH.size
    if len(data) < start:
        raise BitstreamError("truncated file (ICC profile length)")
    (n,) = _LENGTH.unpack_from(data, header.size)
    _check_icc_length(n)
    if len(data) < start + n:
        raise BitstreamError(f"truncated file (ICC profile: {len(data) - start} of {n} bytes)")
    return header, bytes(data[start : start + n])


def unpack_file(data: bytes) -> Sections:
    """Split and check a file; any inconsistency raises :class:`BitstreamError`."""
    header, icc_profile = unpack_prefix(data)
    a = header.size + _metadata_size(icc_profile)
    expected = a + header.weight_bytes + header.latent_bytes + header.escape_bytes + _CRC.size
    if len(data) < expected:
        raise BitstreamError(f"truncated file ({len(data)} of {expected} bytes)")
    if len(data) > expected:
        raise BitstreamError(f"trailing data after the bitstream ({len(data) - expected} bytes)")
    body = data[: -_CRC.size]
    if _CRC.unpack(data[-_CRC.size :])[0] != zlib.crc32(body):
        raise BitstreamError("checksum mismatch: the file is corrupt")
    b = a + header.weight_bytes
    c = b + header.latent_bytes
    return Sections(header, body[a:b], body[b:c], body[c:], icc_profile)


def with_icc_profile(data: bytes, icc_profile: bytes | None) -> bytes:
    """``data`` (a whole file) re-packed with ``icc_profile`` (None removes it); the coded
    sections, and so the pixels, are unchanged: a version 3 file becomes a version 4 file (the
    first with metadata), later versions stay what they are, since the version also names the
    probability table the latents are coded with."""
    s = unpack_file(data)
    header = replace(s.header, version=max(s.header.version, FLAGS_SINCE_VERSION))
    return pack_file(header, s.weights, s.latents, s.escapes, icc_profile)
