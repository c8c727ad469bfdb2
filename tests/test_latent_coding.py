import numpy as np
import pytest
from helpers import random_arm, random_grids

from lnic.bitstream.latent_coding import decode_latents, encode_latents, latent_bits
from lnic.bitstream.latent_coding.schedule import coding_order, num_steps
from lnic.format import ARM_CONTEXT, ARM_WAVEFRONT_SLOPE, GRID_LAG, SYMBOL_RADIUS
from lnic.model.latents import grid_shapes, num_levels


@pytest.mark.parametrize("size", [(16, 16), (37, 53), (64, 48)])
def test_range_coder_round_trip(size):
    shapes = grid_shapes(*size, num_levels(*size))
    grids = random_grids(1, shapes)
    arm = random_arm(2)
    coded, escapes = encode_latents(grids, arm)
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))


def test_escapes_round_trip_and_size_matches_estimate():
    shapes = grid_shapes(40, 40, 3)
    grids = random_grids(3, shapes, spread=1.0)
    grids[0][5, 5] = 400  # far beyond SYMBOL_RADIUS: escape codes
    grids[1][2, 3] = -3 * SYMBOL_RADIUS
    arm = random_arm(4)
    coded, escapes = encode_latents(grids, arm)
    assert len(escapes) > 0
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))
    actual_bits = 8 * (len(coded) + len(escapes))
    estimate = latent_bits(grids, arm)
    assert estimate <= actual_bits <= estimate * 1.02 + 96


def test_another_table_codes_the_same_symbols_in_other_bytes():
    """``encode_latents(table=...)`` (for measurements) codes with the given table: the format's
    own table gives the file's bytes, a uniform one over all symbols gives other bytes."""
    from lnic.bitstream.latent_coding.symbols import coder_table

    shapes = grid_shapes(32, 32, 3)
    grids = random_grids(5, shapes)
    arm = random_arm(6)
    own, _ = encode_latents(grids, arm)
    assert encode_latents(grids, arm, coder_table())[0] == own
    uniform = np.full_like(coder_table(), 1.0 / coder_table().shape[1])
    assert encode_latents(grids, arm, uniform)[0] != own


@pytest.mark.parametrize("size", [(9, 13), (20, 7), (5, 40)])
def test_coding_order_respects_the_context(size):
    """Every latent comes after its causal neighbours and its co-located coarser latent, in a
    strictly earlier step; a step codes its grids coarsest first, each by increasing y."""
    shapes = grid_shapes(*size, num_levels(*size))
    levels = len(shapes)
    order, step = coding_order(shapes)
    assert sorted(order.tolist()) == list(range(sum(h * w for h, w in shapes)))
    assert np.all(np.diff(step) >= 0) and step[-1] == num_steps(shapes) - 1
    offsets = np.cumsum([0] + [h * w for h, w in shapes])
    where = {}  # (k, y, x) -> (step, rank in the coding order)
    for rank, (i, st) in enumerate(zip(order.tolist(), step.tolist())):
        k = int(np.searchsorted(offsets, i, side="right")) - 1
        y, x = divmod(i - int(offsets[k]), shapes[k][1])
        assert st == x + ARM_WAVEFRONT_SLOPE * y + GRID_LAG * (levels - 1 - k)
        where[k, y, x] = (st, rank)
    for (k, y, x), (st, rank) in where.items():
        h, w = shapes[k]
        for dy, dx in ARM_CONTEXT:
            if 0 <= y + dy < h and 0 <= x + dx < w:
                assert where[k, y + dy, x + dx][0] < st
        if k + 1 < levels:
            assert where[k + 1, y // 2, x // 2][0] < st
        if y + 1 < h and x - ARM_WAVEFRONT_SLOPE >= 0:  # same wavefront, next y: coded later
            assert where[k, y + 1, x - ARM_WAVEFRONT_SLOPE][1] > rank
        if k > 0 and (k - 1, y, x) in where and where[k - 1, y, x][0] == st:
            assert where[k - 1, y, x][1] > rank  # finer grid after coarser in a step


def test_steps_are_fewer_than_wavefronts_summed_over_grids():
    """The interleaved schedule: about W + 2 H steps for the whole pyramid."""
    shapes = grid_shapes(512, 768, num_levels(512, 768))
    assert num_steps(shapes) == 768 + ARM_WAVEFRONT_SLOPE * 511 + GRID_LAG * (len(shapes) - 1)


def test_missing_escape_codes_are_an_error():
    """An escape symbol without its exp-Golomb code (a damaged escape section) is refused."""
    from lnic.errors import BitstreamError

    shapes = grid_shapes(24, 24, 2)
    grids = random_grids(5, shapes, spread=1.0)
    grids[0][10, 10] = 300
    arm = random_arm(6)
    coded, escapes = encode_latents(grids, arm)
    assert escapes
    with pytest.raises(BitstreamError):
        decode_latents(coded, b"", shapes, arm)


def test_clamp_bound_is_sound():
    """ArmPlan.clamps_may_bite(m) False: for contexts within +-m, the ARM without its clamps
    (scale_idx still clipped) gives what arm_integer gives."""
    from lnic.bitstream.latent_coding.plan import ArmPlan
    from lnic.format import ARM_ACT_FRAC_BITS
    from lnic.model.arm import N_CONTEXT, arm_integer
    from lnic.model.quantized import integer_linear

    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(40):
        arm = random_arm(seed, hidden=16)
        plan = ArmPlan.fold(arm)
        for m in (1, 4, 16, 64, 256, 4096):
            if plan.clamps_may_bite(m):
                continue
            checked += 1
            ctx = rng.integers(-m, m + 1, (2000, N_CONTEXT)).astype(np.float64)
            ctx[:10] = m * np.sign(rng.normal(size=(10, N_CONTEXT)))  # corners of the box
            x = ctx * 2.0**ARM_ACT_FRAC_BITS
            for i, layer in enumerate(arm):  # no clamp (2^60: beyond any value here)
                x = integer_linear(layer, x, ARM_ACT_FRAC_BITS, 1 << 60, relu=i < len(arm) - 1)
            mu_free = np.floor((x[:, 0] + 8) / 16)
            mu, _ = arm_integer(arm, ctx)
            assert np.array_equal(mu_free, mu)
    assert checked > 20


def test_both_decoding_passes(monkeypatch):
    """The decoder first runs without the ARM's clamps; it decodes again with them only when
    one of them bit (checked from the decoded latents). Every way gives the encoder's latents."""
    from lnic.bitstream.latent_coding import decode

    passes = []
    decode_pass = decode.decode_pass

    def spy(decoder, escapes, plan, grids, kernels, clamps, *rest):
        passes.append(clamps)
        return decode_pass(decoder, escapes, plan, grids, kernels, clamps, *rest)

    monkeypatch.setattr(decode, "decode_pass", spy)
    shapes = grid_shapes(20, 20, 2)
    saturating = random_arm(1, hidden=16)
    saturating[0].weight[:, 11] = 4000  # the left neighbour: 4096 saturates the first layer
    cases = [
        (random_arm(1, hidden=16), None, [False]),  # small latents: no clamp can bite
        (random_arm(1, hidden=16), 4096, [False]),  # one could, none did (checked)
        (saturating, 4096, [False, True]),  # one did: a second pass
    ]
    for arm, big, expected in cases:
        passes.clear()
        grids = random_grids(2, shapes, spread=1.0)
        if big:
            grids[0][3, 3] = big
        coded, escapes = encode_latents(grids, arm)
        decoded = decode_latents(coded, escapes, shapes, arm)
        assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))
        assert passes == expected


@pytest.mark.parametrize("chunk", [1, 40, 1 << 16])
def test_banded_arm_gives_the_whole_grid_symbols(chunk, monkeypatch):
    """The encoder's ARM runs on bands of rows (bounded memory); the symbols equal those of the
    whole-grid context, with odd grid sizes, two-row bands and grids shorter than a band."""
    from lnic.bitstream.latent_coding import encode as encode_module
    from lnic.model.arm import arm_integer, gather_context

    shapes = grid_shapes(37, 29, num_levels(37, 29))
    grids = random_grids(5, shapes, spread=3.0)
    arm = random_arm(6)
    mu_q, scale_idx = arm_integer(arm, gather_context([g.astype(np.float64) for g in grids]))
    monkeypatch.setattr(encode_module, "ARM_CHUNK", chunk)
    sym = encode_module.latent_symbols(grids, arm)
    assert np.array_equal(sym.mu_frac, mu_q & 15)
    assert np.array_equal(sym.scale_idx, scale_idx)
