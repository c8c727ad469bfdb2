"""The C kernels' range decoder decodes what constriction's does, symbol for symbol; their ARM
of known contexts (the encoder's exact rate) gives the integer ARM's table indices.

The format's range coder is constriction's queue coder with its float-to-integer quantization
of each table row (``lnic.format.RANGE_CODER_PRECISION``); the C latent loop decodes without
constriction, from :func:`coder_cdf`. Here both decode the same words with the same rows:
streams constriction encoded (every symbol back, and the section exhausted), and arbitrary or
damaged words (the same symbols, or both refusing the data, and the same verdict on whether
the section is used up).
"""

from __future__ import annotations

import ctypes

import constriction
import numpy as np
import pytest

from lnic.bitstream import c_kernels
from lnic.bitstream.latent_coding.symbols import coder_cdf, coder_table, range_model

kernels = c_kernels.load()
pytestmark = pytest.mark.skipif(kernels is None, reason="the C kernels cannot be built here")


def _c_decode(words: np.ndarray, rows: np.ndarray, prob_bits: int):
    """(symbols or None where the data cannot come from the models, exhausted) with C."""
    from lnic.bitstream.latent_coding.c_loop import CRangeDecoder

    decoder = CRangeDecoder(kernels, words)
    cdf = coder_cdf(prob_bits)
    rows = np.ascontiguousarray(rows, dtype=np.int32)
    sym = np.empty(len(rows), dtype=np.int32)
    at = [a.__array_interface__["data"][0] for a in (rows, cdf, sym)]
    ok = kernels.range_decode(ctypes.byref(decoder.state), at[0], len(rows), at[1],
                              cdf.shape[1] - 1, at[2])  # fmt: skip
    return (sym if ok else None), decoder.maybe_exhausted()


def _constriction_decode(words: np.ndarray, rows: np.ndarray, prob_bits: int):
    decoder = constriction.stream.queue.RangeDecoder(words)
    try:
        sym = decoder.decode(range_model(), coder_table(prob_bits)[rows])
    except Exception:  # constriction's "invalid for the employed entropy model"
        return None, decoder.maybe_exhausted()
    return sym, decoder.maybe_exhausted()


@pytest.mark.parametrize("prob_bits", [16, 20])
def test_symbols_constriction_encoded_come_back(prob_bits: int) -> None:
    rng = np.random.default_rng(prob_bits)
    table = coder_table(prob_bits).astype(np.float64)
    for n in (1, 2, 7, 500, 4000):
        rows = rng.integers(0, table.shape[0], n)
        p = table[rows] / table[rows].sum(1, keepdims=True)
        sym = (p.cumsum(1) < rng.random((n, 1))).sum(1).astype(np.int32)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(sym, range_model(), coder_table(prob_bits)[rows])
        words = encoder.get_compressed()
        got, exhausted = _c_decode(words, rows, prob_bits)
        assert got is not None and np.array_equal(got, sym) and exhausted


@pytest.mark.parametrize("prob_bits", [16, 20])
def test_arbitrary_and_damaged_words_give_constrictions_verdict(prob_bits: int) -> None:
    rng = np.random.default_rng(100 + prob_bits)
    rows_all = rng.integers(0, coder_table(prob_bits).shape[0], 3000)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(np.zeros(3000, dtype=np.int32), range_model(), coder_table(prob_bits)[rows_all])
    valid = encoder.get_compressed()
    refused = 0
    for trial in range(300):
        if trial % 2:
            words = rng.integers(0, 2**32, rng.integers(0, 12), dtype=np.uint64).astype(np.uint32)
        else:
            words = valid.copy()
            words[rng.integers(0, len(words))] ^= np.uint32(1 << int(rng.integers(0, 32)))
            words = words[: rng.integers(len(words) // 2, len(words) + 1)]
        rows = rows_all[: rng.integers(1, 3000)]
        ours, theirs = (
            _c_decode(words, rows, prob_bits),
            _constriction_decode(words, rows, prob_bits),
        )
        assert (ours[0] is None) == (theirs[0] is None)
        if ours[0] is not None:
            assert np.array_equal(ours[0], theirs[0])
        else:
            refused += 1
        assert ours[1] == theirs[1]
    assert 0 < refused < 300  # both kinds of outcome were exercised


@pytest.mark.parametrize("layers", [0, 1, 2, 3])
@pytest.mark.parametrize("e_w", [8, 2])
def test_the_batch_arm_gives_the_integer_arms_indices(layers: int, e_w: int) -> None:
    """The encoder's exact rate runs the ARM of known contexts in C (``arm_batch``): the same
    table indices as :func:`arm_integer`, also where its clamps bite (``e_w = 2``: weights 64
    times larger, activations past ARM_ACT_CLAMP, means past the table)."""
    from helpers import random_arm

    from lnic.bitstream.latent_coding.arm_batch import batch_arm
    from lnic.model.arm import N_CONTEXT, arm_integer

    rng = np.random.default_rng(layers + 10 * e_w)
    arm = random_arm(layers + 7 * e_w, hidden=12, layers=layers, e_w=e_w)
    context = rng.integers(-40, 41, (1001, N_CONTEXT)).astype(np.float64)
    context[:50] *= 100  # large latents too
    mu_q, scale_idx = batch_arm(arm)(context)
    ref_mu, ref_scale = arm_integer(arm, context)
    assert np.array_equal(mu_q, ref_mu) and np.array_equal(scale_idx, ref_scale)
