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
    up = Upsampler(3).double()
    up.taps.data = torch.from_numpy(taps)
    got = up([torch.from_numpy(g) for g in grids]).detach().numpy()
    x = grids[-1][None]
    for k in (1, 0):
        x = up_axis(up_axis(x, tuple(taps[k]), 2, shapes[k][1]), tuple(taps[k]), 1, shapes[k][0])
        x = np.concatenate([grids[k][None], x], 0)
    np.testing.assert_allclose(got, x, rtol=1e-12, atol=1e-12)
