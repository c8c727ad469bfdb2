"""The encoder's float networks: hand-written backward passes and the allocator setting."""

from __future__ import annotations

import sys

import pytest
import torch

from lnic.encoder.allocator import keep_large_allocations
from lnic.encoder.nets.synthesis import PixelMlp, Synthesis


def test_pixel_mlp_gradients_match_autograd():
    torch.manual_seed(0)
    args = [torch.randn(5, 300, dtype=torch.float64), torch.randn(8, 5, dtype=torch.float64),
            torch.randn(8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64),
            torch.randn(3, dtype=torch.float64)]
    args = [a.requires_grad_() for a in args]
    assert torch.autograd.gradcheck(PixelMlp.apply, args)


def test_synthesis_equals_the_row_layout_mlp():
    torch.manual_seed(1)
    s = Synthesis(4, 10, 3)
    for p in s.parameters():
        p.data.normal_(0, 0.5)
    z = torch.randn(4, 9, 11)
    rows = z.reshape(4, -1).T
    ref = s.lin2(torch.relu(s.lin1(rows))).T.reshape(3, 9, 11)
    ref = ref + s._conv(s.conv_a, ref)
    ref = ref + s._conv(s.conv_b, torch.relu(ref))
    torch.testing.assert_close(s(z), ref)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_large_allocations_are_kept_and_setting_is_idempotent():
    assert keep_large_allocations()
    assert keep_large_allocations()
    big = torch.empty(20_000_000)  # 80 MB: served from the heap now, still usable
    big.fill_(1.0)
    assert float(big.sum()) == 20_000_000.0


def _prefilter_numpy(g, p):
    import numpy as np

    k = [p[0], p[1], p[2], p[3], p[2], p[1], p[0]]
    h, w = g.shape
    x = np.pad(g, ((0, 0), (3, 3)), mode="edge")
    x = sum(k[j] * x[:, j : j + w] for j in range(7))
    x = np.pad(x, ((3, 3), (0, 0)), mode="edge")
    return sum(k[j] * x[j : j + h] for j in range(7))


@pytest.mark.parametrize("shape", [(17, 23), (64, 48), (9, 40)])
def test_float_upsampling_equals_the_decoders_formula(shape):
    import numpy as np

    from lnic.encoder.nets.upsampling import Upsampler
    from lnic.model.latents import grid_shapes
    from lnic.model.upsampling import up_axis

    rng = np.random.default_rng(0)
    shapes = grid_shapes(*shape, 3)
    grids = [rng.normal(size=s) for s in shapes]
    taps = rng.normal(size=(2, 4))
    pre = rng.normal(size=(3, 4))
    up = Upsampler(3).double()
    up.taps.data = torch.from_numpy(taps)
    up.pre.data = torch.from_numpy(pre)
    got = up([torch.from_numpy(g) for g in grids]).detach().numpy()
    x = _prefilter_numpy(grids[-1], pre[-1])[None]
    for k in (1, 0):
        x = up_axis(up_axis(x, tuple(taps[k]), 2, shapes[k][1]), tuple(taps[k]), 1, shapes[k][0])
        x = np.concatenate([_prefilter_numpy(grids[k], pre[k])[None], x], 0)
    np.testing.assert_allclose(got, x, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(up.all_taps().detach().numpy(), np.concatenate([taps, pre]))


def test_integer_prefilter_identity_is_exact_and_others_round_the_float_filter():
    import numpy as np

    from lnic.model.upsampling import prefilter_integer

    rng = np.random.default_rng(3)
    g = rng.integers(-40, 41, size=(13, 21)).astype(np.float64)
    e, frac = 8, 12
    same = prefilter_integer(g, (0, 0, 0, 1 << e), e, frac, 1 << 24)
    np.testing.assert_array_equal(same, g * 2**frac)
    p = np.array([3, -9, 40, 200])
    got = prefilter_integer(g, p, e, frac, 1 << 24) / 2**frac
    want = _prefilter_numpy(g, p / 2**e)
    assert np.abs(got - want).max() <= 2 * 2.0**-frac * (1 + np.abs(p / 2**e).sum() * 2)
    assert not np.array_equal(got, g)
