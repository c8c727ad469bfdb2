"""Training-loop plumbing that the end-to-end tests do not reach (no full-size training here)."""

from __future__ import annotations

import math

import pytest
import torch

from lnic.encoder import fitting, train
from lnic.encoder.nets.arm import log_scale_floor
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.phases import Proxy, StepSettings
from lnic.encoder.presets import (
    KODAK_PIXELS,
    MAX_STEP_SCALE,
    PRESETS,
    SMALL_IMAGE_STEPS,
    NoisePhase,
    Preset,
    StraightThroughPhase,
)
from lnic.model.architecture import Architecture


def _tiny(noise_steps: int, ste_steps: int) -> Preset:
    return Preset("tiny", (NoisePhase(noise_steps), StraightThroughPhase(ste_steps)))


def test_training_step_accumulates_gradients_of_every_latent_grid():
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    settings = StepSettings(0.1, 0.01, Proxy(0.3, 0.25))
    loss, _, bpp = train._step(model, target, torch.tensor(0.01), settings)
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


def test_soap_step_evaluates_and_returns_the_closures_loss():
    from lnic.encoder.soap import Soap

    lin = torch.nn.Linear(3, 2)
    opt = Soap(lin.parameters(), lr=0.01)

    def closure():
        opt.zero_grad()
        loss = lin(torch.ones(4, 3)).square().mean()
        loss.backward()
        return loss

    before = lin.weight.detach().clone()
    loss = opt.step(closure)
    assert loss is not None and torch.isfinite(loss)
    assert not torch.equal(lin.weight, before)


def test_fit_runs_every_phase_in_order_and_trains_a_tiny_image():
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    seen = []
    stats = fitting.fit(model, target, 0.01, _tiny(30, 5), lambda *a: seen.append(a))
    assert [(s, t) for s, t, _ in seen] == [(s, 35) for s in range(1, 36)]
    assert [st["phase"] for *_, st in seen] == [0.0] * 30 + [1.0] * 5
    assert stats["mse"] < float(torch.mean((target - 0.5) ** 2))


def test_fit_keeps_the_best_hard_rounded_parameters():
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    seen = []
    fitting.fit(model, target, 0.01, _tiny(20, 8), lambda *a: seen.append(a[2]))
    hard = [st["loss"] for st in seen if st["phase"]]
    with torch.no_grad():
        final, _, _ = train._loss(model, target, torch.tensor(0.01), None)
    assert final.item() == pytest.approx(min(hard), rel=1e-5)


def test_small_images_get_up_to_four_times_the_steps_of_every_phase():
    preset = PRESETS["default"]
    assert preset.scaled(KODAK_PIXELS) is preset
    assert preset.scaled(2 * KODAK_PIXELS) is preset
    half = preset.scaled(KODAK_PIXELS // 2)
    assert [p.steps for p in half.phases] == [2 * p.steps for p in preset.phases]
    small = preset.scaled(192 * 192)
    assert [p.steps for p in small.phases] == [MAX_STEP_SCALE * p.steps for p in preset.phases]
    assert small.phases[0].lr == preset.phases[0].lr  # only the steps change
    unscaled = _tiny(30, 5)
    assert unscaled.scaled(16 * 16) is unscaled


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_tiny_images_get_a_bounded_step_budget_not_four_times_more(name):
    """A tiny image's steps cost their fixed overhead, not pixels, and longer training only
    grows its networks: up to 64x64 no preset runs more than SMALL_IMAGE_STEPS steps (or more
    than its own), and the work (steps x pixels) still grows with the image."""
    preset = PRESETS[name]
    for side in (16, 24, 32, 48, 64):
        scaled = preset.scaled(side * side)
        assert scaled.steps <= min(preset.steps, SMALL_IMAGE_STEPS)
        assert all(p.steps >= 1 for p in scaled.phases)
    assert PRESETS["fast"].scaled(16 * 16).steps == PRESETS["fast"].steps
    work = [preset.scaled(side * side).steps * side * side for side in (16, 32, 64, 96, 128)]
    assert work == sorted(work)


def test_phase_schedules_anneal_the_proxy_and_decay_the_learning_rates():
    noise = NoisePhase(11)
    first, last = noise.at(0), noise.at(10)
    assert first == (
        noise.lr,
        noise.net_lr,
        Proxy(noise.temperature_start, noise.noise_start),
        1.0,
        1.0,
        1,
        0,
        0.0,
        False,
        False,
    )
    assert not last.nets_frozen
    assert last.proxy == pytest.approx(Proxy(noise.temperature_end, noise.noise_end))
    assert last.latent_lr == pytest.approx(0.0, abs=1e-12)
    assert noise.at(5).latent_lr == pytest.approx(noise.lr / 2)
    # networks learn 16 times slower than latents in both phases
    assert noise.at(3).net_lr * 16 == noise.at(3).latent_lr
    ste = StraightThroughPhase(4)
    assert all(ste.at(i).proxy is None for i in range(4))
    assert ste.at(2).latent_lr == pytest.approx(ste.lr * 0.5 * (1 + math.cos(math.pi / 2)))
    assert ste.at(2).net_lr * 16 == ste.at(2).latent_lr


def test_presets_describe_their_phases():
    assert PRESETS["fast"].describe() == "480 noise-proxy steps + 10 straight-through steps"
    record = PRESETS["fast"].record()
    assert [p["phase"] for p in record["phases"]] == ["noise", "ste"]
    assert record["phases"][0]["steps"] == 480 and record["reference_pixels"] == KODAK_PIXELS


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("steps", [2, 3, 17, 100, 490, 5000])
def test_a_step_override_runs_exactly_that_many_steps_in_the_presets_proportions(name, steps):
    preset = PRESETS[name]
    run = preset.with_steps(steps)
    assert run.steps == steps
    assert run.scaled(16 * 16) is run  # the count holds for every image size
    noise, ste = (p.steps for p in run.phases)
    assert ste >= 1
    share = preset.phases[1].steps / preset.steps
    assert abs(ste - max(1, share * steps)) <= 1
    assert [type(p) for p in run.phases] == [type(p) for p in preset.phases]
    assert run.phases[0].lr == preset.phases[0].lr  # only the steps change


@pytest.mark.parametrize("steps", [0, 1, -5, 2.5, True, "10"])
def test_a_step_override_below_one_step_per_phase_is_refused(steps):
    from lnic.errors import InputError

    with pytest.raises(InputError, match="steps"):
        PRESETS["fast"].with_steps(steps)


def test_fit_follows_the_lambda_of_its_steering_during_the_noise_phase():
    from lnic.encoder.rate_control import RateSteering

    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    steering = RateSteering(1.0, 0.0, pixels=256, noise_steps=40, lmbda=1e-5)
    seen: list[float] = []
    fitting.fit(model, target, 123.0, _tiny(40, 3), lambda *a: seen.append(a[2]["lmbda"]), steering)
    # a budget of one bit: every measurement from 25% to 80% of the noise phase raises lambda
    assert [step for step, _, _ in steering.history] == list(range(10, 32))
    assert seen[:10] == [pytest.approx(1e-5)] * 10  # the steering's lambda, not the argument's
    assert all(a < b for a, b in zip(seen[9:32], seen[10:32]))
    assert seen[31:] == [pytest.approx(steering.lmbda)] * 12  # frozen to the end


def test_a_rate_boost_starts_lambda_higher_and_returns_to_it_halfway():
    noise = NoisePhase(11, rate_boost=3.0, rate_boost_until=0.5)
    scales = [noise.at(i).rate_scale for i in range(11)]
    assert scales[0] == pytest.approx(3.0)
    assert scales[2] == pytest.approx(1 + 2 * 0.5 * (1 + math.cos(math.pi * 0.4)))
    assert all(a > b for a, b in zip(scales[:5], scales[1:6]))
    assert scales[5:] == [1.0] * 6
    assert all(NoisePhase(11).at(i).rate_scale == 1.0 for i in range(11))


def test_fit_trains_at_the_boosted_lambda_but_not_under_a_size_target():
    from lnic.encoder.rate_control import RateSteering

    torch.manual_seed(0)
    target = torch.rand(3, 16, 16)
    preset = Preset("boost", (NoisePhase(10, rate_boost=4.0), StraightThroughPhase(2)))
    seen: list[float] = []
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    fitting.fit(model, target, 0.01, preset, lambda *a: seen.append(a[2]["lmbda"]))
    assert seen[0] == pytest.approx(0.04)
    assert seen[5:] == [pytest.approx(0.01)] * 7
    steering = RateSteering(1e6, 0.0, pixels=256, noise_steps=10, lmbda=0.01)
    seen.clear()
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    fitting.fit(model, target, 0.01, preset, lambda *a: seen.append(a[2]["lmbda"]), steering)
    assert seen[0] == pytest.approx(0.01)


def test_a_grid_lr_ratio_gives_each_latent_grid_its_own_learning_rate():
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    optimizers = train._Optimizers(model, per_grid=True)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizers.step(NoisePhase(11, lr=0.2, grid_lr_ratio=0.5).at(0))
    assert [g["lr"] for g in optimizers.latents.param_groups] == pytest.approx([0.2, 0.1, 0.05])
    optimizers.step(NoisePhase(11, lr=0.2).at(0))
    assert [g["lr"] for g in optimizers.latents.param_groups] == pytest.approx([0.2] * 3)


def test_a_fine_grid_delay_holds_the_finest_grids_at_zero_coarse_to_fine():
    phase = NoisePhase(100, fine_grid_delay=40, fine_grid_delay_grids=2)
    assert [phase.at(i).held_grids for i in (0, 19, 20, 39, 40, 99)] == [2, 2, 1, 1, 0, 0]
    assert NoisePhase(100).at(0).held_grids == 0
    target = torch.rand(3, 16, 16)
    for steps, moved in [(2, [False, False, True]), (3, [False, True, True]), (6, [True] * 3)]:
        torch.manual_seed(0)
        model = OverfittedCodec(Architecture(levels=3), 16, 16)
        delayed = NoisePhase(steps, fine_grid_delay=4, fine_grid_delay_grids=2)
        fitting.fit(model, target, 0.01, Preset("d", (delayed,)))
        assert [bool(g.detach().abs().sum() > 0) for g in model.latents.grids] == moved


def test_frozen_networks_stay_still_while_the_latents_learn():
    phase = NoisePhase(11, net_freeze_from=0.5)
    assert [phase.at(i).nets_frozen for i in (0, 4, 5, 10)] == [False, False, True, True]
    assert not NoisePhase(11).at(10).nets_frozen
    target = torch.rand(3, 16, 16)
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    fitting.fit(model, target, 0.01, Preset("w", (NoisePhase(3),)))  # networks off their start
    nets = [*model.upsampler.parameters(), *model.synthesis.parameters(), *model.arm.parameters()]
    before = [p.detach().clone() for p in nets]
    latents = [g.detach().clone() for g in model.latents.grids]
    fitting.fit(model, target, 0.01, Preset("f", (NoisePhase(4, net_freeze_from=0.0),)))
    assert all(torch.equal(p, q) for p, q in zip(nets, before))
    assert not all(torch.equal(g, h) for g, h in zip(model.latents.grids, latents))


def test_no_weight_gradients_leaves_the_latents_gradients_exact():
    from lnic.encoder.native.ops import without_weight_gradients

    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    target = torch.rand(3, 16, 16)
    settings = NoisePhase(3).at(0)

    def grads() -> list[torch.Tensor]:
        model.zero_grad(set_to_none=False)
        torch.manual_seed(1)
        train._step(model, target, torch.tensor(0.01), settings)
        return [p.grad.clone() for p in model.parameters()]

    exact = grads()
    with without_weight_gradients():
        frozen = grads()
    named = [n for n, _ in model.named_parameters()]
    for name, a, b in zip(named, exact, frozen):
        if name.startswith("latents"):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-9), name
    arm_and_mlp = [b for n, b in zip(named, frozen) if n.startswith("arm") or "lin" in n]
    assert arm_and_mlp and all(float(b.abs().sum()) == 0.0 for b in arm_and_mlp)


def test_a_log_scale_lift_raises_the_arms_floor_in_training_only():
    phase = NoisePhase(101, log_scale_lift=2.0, log_scale_lift_until=0.5)
    assert [phase.at(i).log_scale_lift for i in (0, 25, 50, 100)] == pytest.approx([2, 1, 0, 0])
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    with torch.no_grad():
        model.arm.out.bias.fill_(-10.0)  # log-scale below the format's floor everywhere
        for g in model.latents.grids:
            g.copy_(torch.randint(-2, 3, g.shape))
    grids = list(model.latents.grids)
    base = model.arm.bits(grids).detach()
    for native in (True, False):
        with log_scale_floor(2.0):
            lifted = model.arm.bits(grids, native=native).detach()
        assert float(lifted) < 0.5 * float(base)  # a wider Laplace: nonzero latents cost less
        again = model.arm.bits(grids, native=native).detach()
        assert float(again) == pytest.approx(float(base), rel=1e-5)
    with log_scale_floor(2.0):
        torch_bits = model.arm.bits(grids, native=False).detach()
        assert float(torch_bits) == pytest.approx(float(model.arm.bits(grids).detach()), rel=1e-4)
    with pytest.raises(ValueError):
        with log_scale_floor(-1.0):
            pass


def test_fit_gives_the_latents_one_adam_group_unless_a_phase_rates_grids_apart(monkeypatch):
    made = []
    real = train._Optimizers
    monkeypatch.setattr(train, "_Optimizers", lambda m, g: made.append(real(m, g)) or made[-1])
    target = torch.rand(3, 16, 16)
    for ratio, groups in [(1.0, 1), (0.5, 3)]:
        preset = Preset("r", (NoisePhase(3, grid_lr_ratio=ratio), StraightThroughPhase(1)))
        fitting.fit(OverfittedCodec(Architecture(levels=3), 16, 16), target, 0.01, preset)
        assert len(made[-1].latents.param_groups) == groups


def test_numpys_blas_runs_on_one_thread_while_fit_trains():
    """SOAP's tiny products must not wake OpenBLAS's spinning threads, which take the cores of
    the OpenMP kernels (``lnic/encoder/blas_threads.py``); afterwards BLAS has its threads back."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> list[int]:
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    if not blas_threads():
        pytest.skip("numpy has no BLAS that threadpoolctl sees")
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=3), 16, 16)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        during = []
        fitting.fit(
            model,
            torch.rand(3, 16, 16),
            0.01,
            _tiny(3, 1),
            lambda *_: during.append(blas_threads()),
        )
        assert during and all(t == [1] * len(t) for t in during)
        assert blas_threads() == [2] * len(blas_threads())


def test_the_coarse_share_of_a_noise_phase_is_its_first_steps():
    phase = NoisePhase(10, coarse_share=0.3)
    assert [phase.at(i).coarse for i in range(10)] == [True] * 3 + [False] * 7
    assert not any(NoisePhase(10).at(i).coarse for i in range(10))


def test_the_coarse_target_is_the_mean_of_2x2_blocks_at_the_second_grids_size():
    target = torch.arange(3 * 5 * 7, dtype=torch.float32).reshape(3, 5, 7)
    half = train.coarse_target(target)
    assert half.shape == (3, 3, 4)  # ceil(5 / 2) x ceil(7 / 2), as grid 1
    assert half[1, 0, 0] == target[1, :2, :2].mean()
    assert half[2, 2, 3] == target[2, 4, 6]  # the odd corner: the one pixel inside
    assert half[0, 2, 1] == target[0, 4, 2:4].mean()


def test_coarse_steps_train_every_grid_but_the_finest_on_the_half_resolution_image():
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=4), 24, 30)
    target = torch.rand(3, 24, 30)
    seen = []
    preset = Preset("coarse", (NoisePhase(12, coarse_share=1.0), StraightThroughPhase(1)))
    fitting.fit(model, target, 0.001, preset, lambda *a: seen.append(a[2]))
    grids = model.latents.grids
    assert not grids[0].detach().any()  # the finest grid never saw a gradient
    assert all(g.detach().any() for g in grids[1:])
    # a coarse step's error is that of the half-resolution image, not of the whole one
    with torch.no_grad():
        up = model.upsampler([g.round() for g in grids[1:]])
        recon = model.synthesis(torch.cat([torch.zeros_like(up[:1]), up]))
    assert up.shape[1:] == grids[1].shape
    assert recon.shape[1:] == train.coarse_target(target).shape[1:]


def test_a_size_target_trains_without_coarse_steps(monkeypatch):
    """The lambda steering measures the whole pyramid's rate and models a full-resolution
    training's drift: a steered encode runs its preset at full resolution."""
    import numpy as np

    from lnic.encoder import encode as encode_module

    class Seen(Exception):
        pass

    plans = []

    def record(*args, **_):
        preset = args[3]
        plans.append(preset)
        raise Seen

    monkeypatch.setattr(encode_module, "fit_best", record)
    preset = Preset("c", (NoisePhase(40, coarse_share=0.25), StraightThroughPhase(2)))
    image = np.zeros((32, 32, 3), np.uint8)
    for request in ({"quality": 4}, {"target_bytes": 400}):
        with pytest.raises(Seen):
            encode_module.encode_array(image, preset=preset, **request)
    assert [plan.phases[0].coarse_share for plan in plans] == [0.25, 0.0]
    assert preset.at_full_resolution().phases[1] == preset.phases[1]


def test_the_log_scale_lift_holds_through_coarse_steps_and_decays_over_the_rest():
    plain = NoisePhase(100, log_scale_lift=2.0)
    assert all(plain.at(i).log_scale_lift == plain.lift_at(i / 99) for i in range(100))
    coarse = NoisePhase(100, log_scale_lift=2.0, coarse_share=0.25)
    lifts = [coarse.at(i).log_scale_lift for i in range(100)]
    assert lifts[:26] == [2.0] * 26  # the coarse steps and the first full-resolution step
    assert lifts[26] < 2.0 and lifts[61] > 0.0 and lifts[63:] == [0.0] * 37
