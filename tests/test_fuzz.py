"""Fuzzing the decoder with mutated real bitstreams (hypothesis).

Property: :func:`lnic.decoder.decode_bytes` either returns an image of the declared size or
raises an :class:`lnic.errors.LnicError` that one of the decoder's own checks raised, with every
latent decoding loop (numpy, numba's kernels, the C kernels), and without a warning. Any other
exception is a crash; so is an ``LnicError`` made by the decoder's last-resort wrapper (message
``corrupt bitstream (SomeError: ...)``), which only catches failures no check foresaw.

Most mutations break the CRC-32, so half of the examples recompute it: those reach the header
checks, the weight parser, the range decoder and the reconstruction. A wrong image is an
acceptable outcome for damage the range decoder cannot detect.

CI runs a short campaign per loop (``LNIC_FUZZ_EXAMPLES``, default 150); the long campaign of
CRC-valid mutations is ``benchmarks/fuzz_long.py`` (results in ``benchmarks/fuzz.md``).
"""

from __future__ import annotations

import os
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import DECODE_LOOPS, skip_unless_loop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lnic.bitstream.header import HEADER_FIELDS, HEADER_SIZE, field_offset
from lnic.decoder import decode_bytes
from lnic.errors import LnicError

DATA = Path(__file__).parent / "data"
SEEDS = [
    (DATA / name).read_bytes()
    for name in ("golden.lnic", "golden_synthetic.lnic", "golden-v4.lnic")  # versions 5 and 4
]
EXAMPLES = int(os.environ.get("LNIC_FUZZ_EXAMPLES", "150"))
CATCH_ALL = "corrupt bitstream ("  # the message of decode_bytes' last-resort wrapper


def _fix_crc(data: bytes) -> bytes:
    body = data[:-4] if len(data) >= 4 else data
    return body + struct.pack("<I", zlib.crc32(body))


@st.composite
def mutated(draw) -> tuple[bytes, str]:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    kind = draw(
        st.sampled_from(
            ["flip", "overwrite", "truncate", "insert", "delete", "header_field", "splice"]
        )
    )
    n = len(data)
    if kind == "flip":
        for bit in draw(st.lists(st.integers(0, 8 * n - 1), min_size=1, max_size=8)):
            data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "overwrite":
        pos = draw(st.integers(0, n - 1))
        chunk = draw(st.binary(min_size=1, max_size=64))
        data[pos : pos + len(chunk)] = chunk[: n - pos]
    elif kind == "truncate":
        data = data[: draw(st.integers(0, n - 1))]
    elif kind == "insert":
        pos = draw(st.integers(0, n))
        data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
    elif kind == "delete":
        pos = draw(st.integers(0, n - 1))
        del data[pos : pos + draw(st.integers(1, 64))]
    elif kind == "header_field":  # plausible-looking values in one header field
        field = draw(st.sampled_from([name for name in HEADER_FIELDS if name != "magic"]))
        fmt = "<" + HEADER_FIELDS[field]
        size = struct.calcsize(fmt)
        value = draw(st.integers(0, 2 ** (8 * size) - 1) | st.integers(0, 64))
        struct.pack_into(fmt, data, field_offset(field), value)
    else:  # the sections of one seed behind the header of the other
        other = draw(st.sampled_from(SEEDS))
        data = data[:HEADER_SIZE] + bytearray(other[HEADER_SIZE:])
    out = bytes(data)
    if draw(st.booleans()):
        out = _fix_crc(out)
    return out, kind


@pytest.mark.parametrize("loop", DECODE_LOOPS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=mutated())
def test_only_lnic_errors_escape(loop, case):
    skip_unless_loop(loop)
    data, kind = case
    previous = os.environ.get("LNIC_DECODE_LOOP")
    os.environ["LNIC_DECODE_LOOP"] = loop
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                image = decode_bytes(data)
            except LnicError as exc:
                assert not str(exc).startswith(CATCH_ALL), f"unforeseen failure ({kind}): {exc}"
            else:
                assert image.dtype == np.uint8 and image.ndim in (2, 3)
    finally:
        if previous is None:
            os.environ.pop("LNIC_DECODE_LOOP")
        else:
            os.environ["LNIC_DECODE_LOOP"] = previous
    assert not caught, f"warnings ({kind}): {[str(w.message) for w in caught]}"
    assert time.perf_counter() - start < 20, f"slow decode ({kind})"
