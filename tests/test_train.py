"""Training-loop plumbing that the end-to-end tests do not reach (no full-size training here)."""

from __future__ import annotations

import dataclasses

import torch

from lnic.encoder import train
from lnic.encoder.presets import PRESETS


def test_training_step_accumulates_gradients_of_every_latent_grid():
    from lnic.encoder.nets.codec import OverfittedCodec
    from lnic.model.architecture import Architecture

    torch.manual_seed(0)
    step = train._step_function(PRESETS["default"])
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    t = torch.tensor
    loss, mse, bpp = step(model, target, t(0.01), t(0.3), t(0.0), t(0.25))
    assert torch.isfinite(loss) and bpp.item() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.latents.grids)


def test_soap_fits_an_ill_conditioned_least_squares_problem_faster_than_adam():
    """SOAP preconditions whole weight matrices: on a badly scaled linear fit it must beat Adam
    at the same learning rate and step count (and still reach a small loss)."""
    from lnic.encoder.soap import Soap

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=gen) @ torch.diag(torch.logspace(0, 2, 8))
    x = x @ torch.linalg.qr(torch.randn(8, 8, generator=gen))[0]  # correlated inputs
    target = x @ torch.randn(8, 6, generator=gen)

    def fit(make_opt):
        lin = torch.nn.Linear(8, 6)
        torch.nn.init.zeros_(lin.weight)
        opt = make_opt(lin.parameters())
        for _ in range(300):
            opt.zero_grad()
            loss = torch.mean((lin(x) - target) ** 2)
            loss.backward()
            opt.step()
        return loss.item()

    soap = fit(lambda p: Soap(p, lr=0.05))
    adam = fit(lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.9, 0.95)))
    assert soap < 0.5 * adam


def test_soap_preset_trains_a_tiny_image():
    from lnic.encoder.nets.codec import OverfittedCodec
    from lnic.model.architecture import Architecture

    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    preset = dataclasses.replace(
        PRESETS["fast"], noise_steps=30, ste_steps=5, reference_pixels=None, net_optimizer="soap"
    )
    stats = train.fit(model, target, 0.01, preset)
    assert stats["mse"] < float(torch.mean((target - 0.5) ** 2))


def test_folding_latent_steps_keeps_the_model_function():
    from lnic.encoder.nets.codec import OverfittedCodec
    from lnic.model.architecture import Architecture

    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 20, 24)
    with torch.no_grad():
        for g in model.latents.grids:
            g.normal_(0, 3)
        model.latents.log_steps.copy_(torch.tensor([-1.0, 0.3, -0.5]))
        steps = model.latents.steps()
        scaled = [g / s for g, s in zip(model.latents.grids, steps)]  # the coded integers
        before, bits_before = model(scaled, [y * s for y, s in zip(scaled, steps)])
        model.fold_latent_steps()
        grids = list(model.latents.grids)
        after, bits_after = model(grids, grids)
    assert torch.allclose(model.latents.log_steps, torch.zeros(3))
    assert all(torch.allclose(a, b) for a, b in zip(scaled, grids))
    assert torch.allclose(before, after, atol=1e-5)
    assert torch.allclose(bits_before, bits_after)


def test_learned_latent_steps_move_and_are_folded_after_training():
    from lnic.encoder.nets.codec import OverfittedCodec
    from lnic.model.architecture import Architecture

    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    preset = dataclasses.replace(
        PRESETS["fast"], noise_steps=40, ste_steps=5, reference_pixels=None, latent_step_lr=0.05
    )
    seen = []
    train.fit(
        model, target, 0.001, preset, lambda *_: seen.append(model.latents.steps().detach().clone())
    )
    assert not torch.allclose(seen[-1], torch.ones(3))  # the steps trained
    assert torch.allclose(model.latents.steps(), torch.ones(3))  # and were folded
