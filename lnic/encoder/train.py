"""The optimisation loop: fit latents and networks to one image for ``MSE + lambda * rate``."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace

import torch

from lnic.encoder import coarse
from lnic.encoder.allocator import keep_large_allocations
from lnic.encoder.native.ops import SoftRoundNoise, gaussian_noise, usable
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import Preset
from lnic.encoder.soap import Soap

log = logging.getLogger(__name__)


def soft_round(x: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """Differentiable rounding (Agustsson & Theis); tends to ``round`` as temperature -> 0."""
    m = torch.floor(x) + 0.5
    r = x - m
    return m + 0.5 * torch.tanh(r / temperature) / torch.tanh(0.5 / temperature)


def proxy(
    g: torch.Tensor, temperature: torch.Tensor, noise_std: torch.Tensor, gaussian: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise phase's stand-in for rounding ``g``: (what the rate sees, what the synthesis sees).

    ``gaussian``: both see ``soft_round(soft_round(g) + n)`` with Gaussian ``n`` of std
    ``noise_std`` (the C3 / Cool-chic proxy, fused in :mod:`lnic.encoder.native` when
    available); otherwise the rate sees ``soft_round(g) + u`` and the synthesis
    ``soft_round(soft_round(g) + u)``, ``u`` uniform.
    """
    if not gaussian:
        rate = soft_round(g, temperature) + torch.rand_like(g) - 0.5
        return rate, soft_round(rate, temperature)
    if usable(g):
        noise = gaussian_noise(g, float(noise_std))
        noisy = SoftRoundNoise.apply(g, noise, float(temperature))
    else:
        noise = noise_std * torch.randn_like(g)
        noisy = soft_round(soft_round(g, temperature) + noise, temperature)
    return noisy, noisy


def _loss(
    model: OverfittedCodec,
    target: torch.Tensor,
    lmbda: torch.Tensor,
    temperature: torch.Tensor,
    hard: torch.Tensor,
    noise_std: torch.Tensor,
    gaussian: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward pass. ``hard`` (0 or 1) picks straight-through rounding over :func:`proxy`."""
    rate_in, synth_in = [], []
    # Learned latent steps are off in the presets: then every step is exactly 1, and dividing
    # and multiplying 524k latents by it (and back-propagating both) is skipped.
    steps = model.latents.steps() if model.latents.log_steps.requires_grad else None
    straight_through = bool(hard)
    for k, latent in enumerate(model.latents.grids):
        g = latent if steps is None else latent / steps[k]
        if straight_through:
            rate_noisy = synth_noisy = g + (torch.round(g) - g).detach()
        else:
            rate_noisy, synth_noisy = proxy(g, temperature, noise_std, gaussian)
        rate_in.append(rate_noisy)
        synth_in.append(synth_noisy if steps is None else synth_noisy * steps[k])
    recon, bits = model(rate_in, synth_in)
    mse = torch.nn.functional.mse_loss(recon, target)  # one fused pass each way (same values)
    bpp = bits / (target.shape[1] * target.shape[2])
    return mse + lmbda * bpp, mse, bpp


def _step_function(preset: Preset) -> Callable:
    """Forward + backward of one step: ``step(*loss_args) -> (loss, mse, bpp)``, gradients
    accumulated.

    Eager, on purpose. Up to session 6 one-thread training compiled (0.39 s per 768x512 step
    against 0.49 s eager); the session-7 channels-first ARM and context gathering
    (:mod:`lnic.encoder.nets.arm`) made the eager step 0.34 s on one thread and 0.19 s on two,
    and inductor took over ten minutes (and 3 GB) to compile the new step. On two threads the
    compiled step had also corrupted the heap (sessions 2, 4 and 5; training notes).
    """
    gaussian = preset.noise == "gaussian"

    def step(*args):
        out = _loss(*args, gaussian)
        out[0].backward()
        return out

    return step


def fit(
    model: OverfittedCodec,
    target: torch.Tensor,
    lmbda: float,
    preset: Preset,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    span: tuple[float, float] = (0.0, 1.0),
) -> dict[str, float]:
    """Train ``model`` in place on ``target`` [C, H, W] in 0..1; returns final loss terms.

    ``span`` is the part of the noise phase's schedule (temperature, noise, learning rate)
    that this call runs through: the coarse stage runs the first part, the full image the rest.

    With ``preset.coarse_steps``, the grids but the finest are first fitted on the image at half
    resolution (:mod:`lnic.encoder.coarse`). The straight-through phase keeps the best
    parameters seen (by the real rounded loss).
    """
    keep_large_allocations()
    pixels = target.shape[1] * target.shape[2]
    preset = preset.scaled(pixels)
    use_coarse = bool(preset.coarse_steps) and model.arch.levels >= coarse.MIN_LEVELS
    done = preset.coarse_steps if use_coarse else 0
    total = done + preset.noise_steps + preset.ste_steps
    if use_coarse:
        half = coarse.coarse_model(model)
        # The half image's grids carry the same bits over a quarter of the pixels: lambda / 4
        # keeps the full image's trade-off between those bits and the squared error.
        stage = replace(
            preset,
            noise_steps=preset.coarse_steps,
            ste_steps=0,
            coarse_steps=0,
            reference_pixels=None,
        )
        cost = preset.coarse_steps * coarse.STEP_COST
        mid = span[0] + (span[1] - span[0]) * cost / (cost + preset.noise_steps)
        fit(
            half,
            coarse.half_resolution(target),
            lmbda / 4,
            stage,
            None if progress is None else lambda s, _, st: progress(s, total, st),
            (span[0], mid),
        )
        span = (mid, span[1])
        coarse.transfer(half, model)
    step_fn = _step_function(preset)
    lam = torch.tensor(float(lmbda))
    params = list(model.parameters())
    net_scale = (preset.net_lr or preset.lr) / preset.lr
    latent_groups = [{"params": list(model.latents.grids), "scale": 1.0}]
    if preset.latent_step_lr:
        latent_groups.append(
            {"params": [model.latents.log_steps], "scale": preset.latent_step_lr / preset.lr}
        )
    else:
        model.latents.log_steps.requires_grad_(False)
    net_groups = [
        {
            "params": [*model.upsampler.parameters(), *model.synthesis.parameters()],
            "scale": net_scale,
        },
        {
            "params": list(model.arm.parameters()),
            "scale": (preset.arm_lr or preset.net_lr or preset.lr) / preset.lr,
        },
    ]
    betas = (0.9, preset.beta2)
    if preset.net_optimizer == "soap":
        optimizers = [
            torch.optim.Adam(
                latent_groups, lr=preset.lr, betas=betas, eps=preset.adam_eps, fused=True
            ),
            Soap(net_groups, lr=preset.lr, betas=betas, eps=preset.adam_eps),
        ]
    else:
        optimizers = [
            torch.optim.Adam(
                latent_groups + net_groups,
                lr=preset.lr,
                betas=betas,
                eps=preset.adam_eps,
                fused=True,
            )
        ]
    groups = [g for o in optimizers for g in o.param_groups]
    best: tuple[float, list[torch.Tensor]] | None = None
    stats: dict[str, float] = {}
    for step in range(preset.noise_steps + preset.ste_steps):
        noise_phase = step < preset.noise_steps
        if noise_phase:
            frac = span[0] + (span[1] - span[0]) * step / max(preset.noise_steps - 1, 1)
            t0, t1 = preset.temperature_start, preset.temperature_end
            t = t0 + (t1 - t0) * frac
            lr = preset.lr * 0.5 * (1 + math.cos(math.pi * frac**preset.decay_power))
            hard = 0.0
            noise_std = preset.noise_start + (preset.noise_end - preset.noise_start) * frac
        else:
            noise_std = 0.0
            frac = (step - preset.noise_steps) / max(preset.ste_steps, 1)
            t = preset.temperature_end
            lr = preset.ste_lr * 0.5 * (1 + math.cos(math.pi * frac))
            hard = 1.0
        if step < preset.warmup_steps:
            lr *= (step + 1) / preset.warmup_steps
        for group in groups:
            group["lr"] = max(lr * group["scale"], 1e-6)
        lam_step = lam
        if noise_phase and step < preset.rate_warmup * preset.noise_steps:
            lam_step = lam * (step / (preset.rate_warmup * preset.noise_steps))
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        loss, mse, bpp = step_fn(
            model, target, lam_step, torch.tensor(t), torch.tensor(hard), torch.tensor(noise_std)
        )
        if preset.clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(model.network_parameters(), preset.clip_grad)
        if not noise_phase and (best is None or loss.item() < best[0]):
            best = (loss.item(), [p.detach().clone() for p in params])
        for o in optimizers:
            o.step()
        stats = {"loss": loss.item(), "mse": mse.item(), "bpp": bpp.item(), "phase": hard}
        if progress is not None:
            progress(done + step + 1, total, stats)
    if best is not None:
        with torch.no_grad():
            for p, b in zip(params, best[1]):
                p.copy_(b)
    if preset.latent_step_lr:
        log.info(
            "latent quantization steps: %s",
            " ".join(f"{v:.3f}" for v in model.latents.steps().tolist()),
        )
    model.fold_latent_steps()
    return stats
