"""The encoder's optimisers without torch.optim: the same updates, and no torch._dynamo."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from lnic.encoder.latent_adam import LatentAdam
from lnic.encoder.param_groups import ParamGroups


def _run(make, steps: int = 12, skip_first_grid_until: int = 0) -> list[torch.Tensor]:
    torch.manual_seed(3)
    grids = [torch.randn(9, 7, requires_grad=True), torch.randn(5, 4, requires_grad=True)]
    opt = make([{"params": [g]} for g in grids])
    for i in range(steps):
        for group, lr in zip(opt.param_groups, (0.05, 0.02)):
            group["lr"] = lr * (1 - i / steps)
        opt.zero_grad(set_to_none=True)
        used = grids if i >= skip_first_grid_until else grids[1:]
        sum(((g - 0.3) ** 4).sum() for g in used).backward()
        opt.step()
    return [g.detach().clone() for g in grids]


@pytest.mark.parametrize("skip", [0, 5])
def test_latent_adam_updates_exactly_as_torchs_fused_adam(skip):
    ours = _run(lambda groups: LatentAdam(groups, betas=(0.9, 0.95)), skip_first_grid_until=skip)
    torchs = _run(
        lambda groups: torch.optim.Adam(groups, betas=(0.9, 0.95), fused=True),
        skip_first_grid_until=skip,
    )
    assert all(torch.equal(a, b) for a, b in zip(ours, torchs))
    assert not torch.equal(ours[0], _run(lambda groups: LatentAdam(groups), steps=11)[0])


def test_param_groups_take_defaults_and_refuse_nothing_to_train():
    p = torch.zeros(3, requires_grad=True)
    groups = ParamGroups([{"params": [p], "lr": 2.0}], {"lr": 1.0, "eps": 1e-8})
    assert groups.param_groups[0]["lr"] == 2.0 and groups.param_groups[0]["eps"] == 1e-8
    p.grad = torch.ones(3)
    groups.zero_grad(set_to_none=False)
    assert torch.equal(p.grad, torch.zeros(3))
    groups.zero_grad()
    assert p.grad is None
    with pytest.raises(ValueError):
        ParamGroups([], {})


def test_training_does_not_import_torchs_compiler():
    """torch.optim.Optimizer's first zero_grad imports torch._dynamo (1.8 s of an encode)."""
    code = textwrap.dedent(
        """
        import sys
        import torch
        from lnic.encoder import fitting, train
        from lnic.encoder.nets.codec import OverfittedCodec
        from lnic.encoder.presets import NoisePhase, Preset, StraightThroughPhase
        from lnic.model.architecture import Architecture

        model = OverfittedCodec(Architecture(levels=3), 16, 16)
        preset = Preset("t", (NoisePhase(3), StraightThroughPhase(1)))
        fitting.fit(model, torch.rand(3, 16, 16), 0.01, preset)
        print("torch._dynamo" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
