"""The upsampler on the coarsest grids of a pyramid (the coarse training steps)."""

from __future__ import annotations

import pytest
import torch

from lnic.encoder.native.ops import usable
from lnic.encoder.nets.upsampling import Upsampler


def _pyramid(shapes):
    torch.manual_seed(1)
    return [torch.randn(*s) for s in shapes]


def test_the_coarsest_grids_go_through_their_own_filters():
    up = Upsampler(4)
    with torch.no_grad():
        up.taps.add_(0.05 * torch.randn_like(up.taps))
        up.pre.add_(0.05 * torch.randn_like(up.pre))
    grids = _pyramid([(20, 26), (10, 13), (5, 7), (3, 4)])
    coarse = up.forward_by_level(grids[1:])
    # the same as a 3-level upsampler whose filters are the 4-level one's coarser ones
    three = Upsampler(3)
    with torch.no_grad():
        three.taps.copy_(up.taps[1:])
        three.pre.copy_(up.pre[1:])
    assert torch.equal(coarse, three.forward_by_level(grids[1:]))
    assert coarse.shape == (3, 10, 13)
    if usable(*grids):
        torch.testing.assert_close(up(grids[1:]), coarse, rtol=0, atol=1e-5)


def test_gradients_of_coarse_steps_reach_only_the_coarser_filters():
    up = Upsampler(4)
    grids = [g.requires_grad_() for g in _pyramid([(16, 16), (8, 8), (4, 4), (2, 2)])]
    up(grids[1:]).square().sum().backward()
    assert up.pre.grad[0].abs().sum() == 0 and up.pre.grad[1:].abs().sum() > 0
    assert up.taps.grad[0].abs().sum() == 0 and up.taps.grad[1:].abs().sum() > 0
    assert grids[0].grad is None


def test_more_grids_than_levels_are_refused():
    with pytest.raises(ValueError):
        Upsampler(2)(_pyramid([(8, 8), (4, 4), (2, 2)]))
