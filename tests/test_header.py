import struct
import zlib
from dataclasses import replace

import pytest

from lnic.bitstream.container import pack_file, unpack_file, unpack_prefix, with_icc_profile
from lnic.bitstream.header import HEADER_FIELDS, HEADER_SIZE, Header, field_offset, header_size
from lnic.errors import BitstreamError
from lnic.format import FLAG_ICC_PROFILE, FORMAT_VERSION, MAGIC, MAX_DIMENSION, MAX_ICC_BYTES
from lnic.model.architecture import Architecture


def _header(w=768, h=512, channels=3):
    return Header(w, h, Architecture(levels=7, channels=channels), 0, 0, 0)


@pytest.mark.parametrize("w,h,c", [(768, 512, 3), (17, 16, 1), (MAX_DIMENSION, 16, 3)])
def test_header_round_trip(w, h, c):
    header = Header(
        w, h, Architecture(levels=3, arm_hidden=12, synth_hidden=24, channels=c), 11, 22, 33
    )
    packed = header.pack()
    assert len(packed) == HEADER_SIZE and packed.startswith(MAGIC)
    assert Header.unpack(packed) == header
    assert Header.unpack(packed).version == FORMAT_VERSION


def test_container_round_trip():
    data = pack_file(_header(), b"weights", b"latents!", b"esc")
    s = unpack_file(data)
    assert (s.weights, s.latents, s.escapes) == (b"weights", b"latents!", b"esc")
    assert s.header.weight_bytes == 7 and s.header.latent_bytes == 8
    assert s.section_bytes() == {
        "header": len(data) - 18,
        "metadata": 0,
        "weights": 7,
        "latents": 11,
    }
    assert s.icc_profile is None and s.header.flags == 0


ICC = bytes(range(256)) * 3  # any bytes: the format carries the profile as it is


def test_icc_profile_round_trip():
    plain = pack_file(_header(), b"weights", b"latents!", b"esc")
    data = pack_file(_header(), b"weights", b"latents!", b"esc", icc_profile=ICC)
    assert len(data) == len(plain) + 4 + len(ICC)
    assert data[field_offset("flags")] == FLAG_ICC_PROFILE
    s = unpack_file(data)
    assert s.icc_profile == ICC
    assert (s.weights, s.latents, s.escapes) == (b"weights", b"latents!", b"esc")
    assert s.section_bytes()["metadata"] == 4 + len(ICC)
    assert sum(s.section_bytes().values()) == len(data)
    # the profile comes right after the header: a viewer needs only the first bytes
    header, icc = unpack_prefix(data[: HEADER_SIZE + 4 + len(ICC)])
    assert icc == ICC and (header.width, header.height) == (768, 512)
    assert with_icc_profile(data, None) == plain
    assert with_icc_profile(plain, ICC) == data


@pytest.mark.parametrize(
    "mutate,message",
    [
        # flags say "ICC profile" but the length is zero, absurd, or runs past the file
        (lambda d: d[:HEADER_SIZE] + struct.pack("<I", 0) + d[HEADER_SIZE + 4 :], "ICC"),
        (
            lambda d: d[:HEADER_SIZE] + struct.pack("<I", MAX_ICC_BYTES + 1) + d[HEADER_SIZE + 4 :],
            "ICC",
        ),
        (lambda d: d[:HEADER_SIZE] + struct.pack("<I", 10**6) + d[HEADER_SIZE + 4 :], "truncated"),
        # a flag bit this version does not define
        (lambda d: d[: field_offset("flags")] + bytes([0x83]) + d[HEADER_SIZE:], "flags"),
        # the flag cleared: the profile's bytes no longer add up with the sections
        (lambda d: d[: field_offset("flags")] + b"\x00" + d[HEADER_SIZE:], "trailing"),
    ],
)
def test_damaged_metadata_is_refused(mutate, message):
    data = pack_file(_header(), b"weights", b"latents!", b"esc", icc_profile=ICC)
    body = mutate(data)[:-4]
    with pytest.raises(BitstreamError, match=message):
        unpack_file(body + struct.pack("<I", zlib.crc32(body)))


def test_version_3_header_has_no_flags_byte():
    v3 = replace(_header(), version=3)
    packed = v3.pack()
    assert len(packed) == header_size(3) == HEADER_SIZE - 1
    assert Header.unpack(packed) == v3
    data = pack_file(v3, b"weights", b"latents!", b"esc")
    assert unpack_file(data).weights == b"weights"
    with pytest.raises(ValueError):
        pack_file(v3, b"w", b"l", b"e", icc_profile=ICC)


def test_a_file_cut_inside_the_icc_length_is_truncated():
    data = pack_file(_header(), b"weights", b"latents!", b"esc", icc_profile=ICC)
    for n in (HEADER_SIZE + 2, HEADER_SIZE + 4 + 10):
        with pytest.raises(BitstreamError, match="truncated"):
            unpack_prefix(data[:n])


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda _d: b"", "empty"),
        (lambda d: b"PNG\x89" + d[4:], "magic"),
        (lambda d: d[:4] + bytes([FORMAT_VERSION + 1]) + d[5:], "version"),
        (lambda d: d[:10], "truncated"),
        (lambda d: d[:-1], "truncated"),
        (lambda d: d + b"\x00", "trailing"),
        (lambda d: d[:-6] + bytes([d[-6] ^ 1]) + d[-5:], "checksum"),
    ],
)
def test_container_rejects_damaged_files(mutate, message):
    data = pack_file(_header(), b"weights", b"latents!", b"esc")
    with pytest.raises(BitstreamError, match=message):
        unpack_file(mutate(data))


def test_absurd_declared_size_is_refused():
    packed = replace(_header(), width=60000, height=60000).pack()
    with pytest.raises(BitstreamError, match="size"):
        Header.unpack(packed)


def test_header_fields_describe_the_layout():
    """The named fields and their offsets are the packed bytes (tests craft files with them)."""
    header = _header(w=1234, h=567)
    packed = header.pack()
    assert struct.calcsize("<" + "".join(HEADER_FIELDS.values())) == HEADER_SIZE
    assert struct.unpack_from("<H", packed, field_offset("width"))[0] == 1234
    assert struct.unpack_from("<H", packed, field_offset("height"))[0] == 567
    assert packed[field_offset("version")] == FORMAT_VERSION
