"""The encoder's float networks: hand-written backward passes and the allocator setting."""

from __future__ import annotations

import sys

import pytest
import torch

from lnic.encoder.allocator import keep_large_allocations
from lnic.encoder.nets.arm import Arm, CausalContext, gather_context_torch
from lnic.encoder.nets.mlp import ChannelsFirstMlp
from lnic.encoder.nets.synthesis import Synthesis


@pytest.mark.parametrize("dims", [(5, 8, 3), (13, 6, 6, 2)])
def test_channels_first_mlp_gradients_match_autograd(dims):
    torch.manual_seed(0)
    args = [torch.randn(dims[0], 300, dtype=torch.float64)]
    for a, b in zip(dims[:-1], dims[1:]):
        args += [torch.randn(b, a, dtype=torch.float64), torch.randn(b, dtype=torch.float64)]
    args = [a.requires_grad_() for a in args]
    assert torch.autograd.gradcheck(ChannelsFirstMlp.apply, args)


@pytest.mark.parametrize("shape", [(17, 23), (9, 40), (32, 48)])
def test_causal_context_gradients_match_autograd(shape):
    from lnic.model.latents import grid_shapes

    torch.manual_seed(0)
    grids = [
        torch.randn(*s, dtype=torch.float64, requires_grad=True) for s in grid_shapes(*shape, 3)
    ]
    torch.testing.assert_close(CausalContext.apply(*grids), gather_context_torch(grids).T)
    assert torch.autograd.gradcheck(CausalContext.apply, grids)


def test_arm_fast_form_equals_the_row_form():
    from lnic.model.latents import grid_shapes

    torch.manual_seed(2)
    grids = [torch.randn(*s, dtype=torch.float64) * 3 for s in grid_shapes(21, 30, 4)]
    arm = Arm(16, 2).double()
    for p in arm.parameters():
        p.data.normal_(0, 0.5)
    mu, log_scale = arm(gather_context_torch(grids))
    fast_mu, fast_log_scale = arm.forward_grids(grids)
    torch.testing.assert_close(fast_mu, mu)
    torch.testing.assert_close(fast_log_scale, log_scale)


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
    from lnic.model.upsampling import prefilter_axis, up_axis

    rng = np.random.default_rng(0)
    shapes = grid_shapes(*shape, 3)
    grids = [rng.normal(size=s) for s in shapes]
    taps = rng.normal(size=(2, 4))
    pre = rng.normal(size=(3, 4))
    up = Upsampler(3).double()
    up.taps.data = torch.from_numpy(taps)
    up.pre.data = torch.from_numpy(pre)
    got = up([torch.from_numpy(g) for g in grids], native=False).detach().numpy()
    filtered = [
        prefilter_axis(prefilter_axis(g, tuple(p), 1), tuple(p), 0) for g, p in zip(grids, pre)
    ]
    x = filtered[-1][None]
    for k in (1, 0):
        x = up_axis(up_axis(x, tuple(taps[k]), 2, shapes[k][1]), tuple(taps[k]), 1, shapes[k][0])
        x = np.concatenate([filtered[k][None], x], 0)
    np.testing.assert_allclose(got, x, rtol=1e-12, atol=1e-12)


def test_prefilter_starts_as_the_identity_and_its_taps_are_used():
    import numpy as np

    from lnic.model.upsampling import prefilter_axis

    g = np.arange(30.0).reshape(5, 6) ** 2
    assert np.array_equal(prefilter_axis(g, (1.0, 0.0, 0.0, 0.0), 1), g)
    # borders replicated: the first sample's left neighbours are itself
    row = prefilter_axis(np.array([[1.0, 2.0, 4.0, 8.0]]), (0.5, 0.25, 0.0, 0.0), 1)
    np.testing.assert_array_equal(row, [[1.25, 2.25, 4.5, 7.0]])
    col = prefilter_axis(np.array([[1.0], [2.0], [4.0], [8.0]]), (0.0, 0.0, 0.0, 1.0), 0)
    np.testing.assert_array_equal(col[:, 0], [1 + 8, 1 + 8, 1 + 8, 1 + 8])


def test_no_synthesis_hidden_unit_starts_dead():
    """The noise proxy's first input is unit-scale noise; every first-layer unit must pass it on
    some pixels (a default-range bias next to the tiny initial weights kills about half)."""
    torch.manual_seed(0)
    synthesis = Synthesis(levels=7, hidden=40, channels=3)
    z = torch.randn(7, 32, 32)
    pre = torch.einsum("hl,lp->hp", synthesis.lin1.weight, z.reshape(7, -1))
    pre = pre + synthesis.lin1.bias[:, None]
    alive = (pre > 0).any(dim=1)
    assert bool(alive.all()), f"{int((~alive).sum())} of 40 hidden units never activate"
