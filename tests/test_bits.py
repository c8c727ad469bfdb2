import numpy as np
import pytest

from lnic.bitstream.bits import (
    BitReader,
    BitWriter,
    exp_golomb_length,
    read_exp_golomb,
    unzigzag,
    write_exp_golomb,
    zigzag,
)
from lnic.errors import BitstreamError


def test_zigzag_is_a_bijection():
    values = list(range(-50, 51))
    assert sorted(zigzag(v) for v in values) == list(range(101))
    assert all(unzigzag(zigzag(v)) == v for v in values)


@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_exp_golomb_round_trip_and_length(k):
    rng = np.random.default_rng(k)
    values = [int(v) for v in rng.integers(-5000, 5000, 300)] + [0, 1, -1]
    w = BitWriter()
    for v in values:
        before = len(w)
        write_exp_golomb(w, v, k)
        assert len(w) - before == exp_golomb_length(v, k)
    r = BitReader(w.getvalue())
    assert [read_exp_golomb(r, k) for _ in values] == values


def test_reader_refuses_to_run_past_the_end():
    r = BitReader(b"\x00")
    with pytest.raises(BitstreamError):
        read_exp_golomb(r, 0)
