import struct
from dataclasses import replace

import pytest

from lnic.bitstream.container import pack_file, unpack_file
from lnic.bitstream.header import HEADER_FIELDS, HEADER_SIZE, Header, field_offset
from lnic.errors import BitstreamError
from lnic.format import FORMAT_VERSION, MAGIC, MAX_DIMENSION
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
    assert s.section_bytes() == {"header": len(data) - 18, "weights": 7, "latents": 11}


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
