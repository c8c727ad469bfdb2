import hashlib

import numpy as np
import pytest

from lnic.bitstream.prob_table import N_MU_FRAC, N_SYMBOLS, frequency_table
from lnic.format import N_SCALES, PROB_BITS, PROB_BITS_OF_VERSION

# Any change of these hashes is a change of the format: bump FORMAT_VERSION.
TABLE_SHA256_PREFIX = {16: "19a0cbae2410ccca", 20: "dc5f9bcbe87fecbd"}


def test_every_readable_version_has_a_committed_table():
    assert set(PROB_BITS_OF_VERSION.values()) == set(TABLE_SHA256_PREFIX)
    assert PROB_BITS == 20


@pytest.mark.parametrize("bits", sorted(TABLE_SHA256_PREFIX))
def test_table_shape_sums_and_positivity(bits):
    t = frequency_table(bits)
    assert t.shape == (N_MU_FRAC, N_SCALES, N_SYMBOLS)
    assert (t.sum(-1) == 1 << bits).all()
    assert t.min() >= 1


@pytest.mark.parametrize("bits", sorted(TABLE_SHA256_PREFIX))
def test_table_is_the_committed_one(bits):
    digest = hashlib.sha256(frequency_table(bits).tobytes()).hexdigest()
    assert digest.startswith(TABLE_SHA256_PREFIX[bits])


def test_rows_are_laplace_shaped():
    t = frequency_table(16)
    centre = N_SYMBOLS // 2
    row = t[0, 30]
    assert row.argmax() == centre
    assert (np.diff(row[: centre + 1]) >= 0).all() and (np.diff(row[centre:]) <= 0).all()
    # a mean of 8/16 splits the mass evenly between residuals 0 and 1
    half = t[8, 30]
    assert abs(int(half[centre]) - int(half[centre + 1])) <= 8


def test_a_finer_table_keeps_its_rows_and_shrinks_the_floor():
    """``compute_frequency_table(prob_bits)`` (what benchmarks/table_precision.py measures):
    rows sum to the asked total, every symbol keeps one count, and the likeliest symbol of the
    narrowest row, which the 16-bit table leaves 48 counts short of certain, gets nearer."""
    from lnic.bitstream.prob_table import compute_frequency_table

    t20 = compute_frequency_table(20)
    assert (t20.sum(-1) == 1 << 20).all() and t20.min() >= 1
    t16 = frequency_table(16)
    assert t16[0, 0].max() == (1 << 16) - (N_SYMBOLS - 1)
    assert t20[0, 0].max() == (1 << 20) - (N_SYMBOLS - 1)
    # same distribution: each row's probabilities agree to the coarser table's resolution
    assert np.abs(t20 / 2.0**20 - t16 / 2.0**16).max() < 2 * N_SYMBOLS / 2.0**16
