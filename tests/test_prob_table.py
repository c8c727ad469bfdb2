import hashlib

import numpy as np

from lnic.bitstream.prob_table import N_MU_FRAC, N_SYMBOLS, frequency_table
from lnic.format import N_SCALES, PROB_BITS

# Any change of this hash is a change of the format: bump FORMAT_VERSION.
TABLE_SHA256_PREFIX = "19a0cbae2410ccca"


def test_table_shape_sums_and_positivity():
    t = frequency_table()
    assert t.shape == (N_MU_FRAC, N_SCALES, N_SYMBOLS)
    assert (t.sum(-1) == 1 << PROB_BITS).all()
    assert t.min() >= 1


def test_table_is_the_committed_one():
    digest = hashlib.sha256(frequency_table().tobytes()).hexdigest()
    assert digest.startswith(TABLE_SHA256_PREFIX)


def test_rows_are_laplace_shaped():
    t = frequency_table()
    centre = N_SYMBOLS // 2
    row = t[0, 30]
    assert row.argmax() == centre
    assert (np.diff(row[: centre + 1]) >= 0).all() and (np.diff(row[centre:]) <= 0).all()
    # a mean of 8/16 splits the mass evenly between residuals 0 and 1
    half = t[8, 30]
    assert abs(int(half[centre]) - int(half[centre + 1])) <= 8
