"""The optimisation loop: fit latents and networks to one image for ``MSE + lambda * rate``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F

from lnic.encoder.best import BestParameters
from lnic.encoder.latent_adam import LatentAdam
from lnic.encoder.native.ops import (
    SoftRoundNoise,
    gaussian_noise,
    mean_squared_error,
    sampled_weight_gradients,
    usable,
    without_weight_gradients,
)
from lnic.encoder.nets.arm import log_scale_floor
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.phases import Proxy, StepSettings
from lnic.encoder.presets import Preset
from lnic.encoder.rate_control import RateSteering, hard_rounded_bits
from lnic.encoder.soap import Soap

log = logging.getLogger(__name__)

BETAS = (0.9, 0.95)
"""Adam's (and SOAP's) moment decays. The second moment averages over ~20 steps: at 0.999 it
would average over more steps than the whole default schedule, and the large gradients of the
first steps would keep damping the updates of the slow rate-distortion phase that follows."""

MIN_LR = 1e-6
"""No parameter group learns slower than this, even where a cosine schedule reaches zero."""

Progress = Callable[[int, int, dict[str, float]], None]
"""``progress(steps done, total steps, loss terms)``, called after every step."""


def soft_round(x: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """Differentiable rounding (Agustsson & Theis); tends to ``round`` as temperature -> 0."""
    m = torch.floor(x) + 0.5
    r = x - m
    return m + 0.5 * torch.tanh(r / temperature) / torch.tanh(0.5 / temperature)


def proxy(g: torch.Tensor, temperature: torch.Tensor, noise_std: torch.Tensor) -> torch.Tensor:
    """The noise phase's stand-in for rounding ``g``, seen by both rate and synthesis:
    ``soft_round(soft_round(g) + n)`` with Gaussian ``n`` of std ``noise_std`` (the C3 /
    Cool-chic proxy, fused in :mod:`lnic.encoder.native` when available)."""
    if usable(g):
        noise = gaussian_noise(g, float(noise_std))
        return SoftRoundNoise.apply(g, noise, float(temperature))
    noise = noise_std * torch.randn_like(g)
    return soft_round(soft_round(g, temperature) + noise, temperature)


def _proxied(model: OverfittedCodec, quantize: Proxy, start: int = 0) -> list[torch.Tensor]:
    """Grids ``start``.. through :func:`proxy` at the settings of ``quantize``; a grid left
    empty (:func:`leave_finest_grid`) stays exactly as it is."""
    # float32 scalars, as the native kernels and the torch fallback both take them
    temperature = torch.tensor(quantize.temperature)
    noise_std = torch.tensor(quantize.noise_std)
    return model.latents.proxied(lambda g: proxy(g, temperature, noise_std), start)


def _loss(
    model: OverfittedCodec, target: torch.Tensor, lmbda: torch.Tensor, quantize: Proxy | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward pass: ``(loss, mse, bpp)``. ``quantize=None`` rounds the latents with
    straight-through gradients; otherwise they go through :func:`proxy`."""
    if quantize is None:
        grids = [g + (torch.round(g) - g).detach() for g in model.latents.grids]
    else:
        grids = _proxied(model, quantize)
    recon, bits = model(grids, grids)
    mse = mean_squared_error(recon, target)
    bpp = bits / (target.shape[1] * target.shape[2])
    return mse + lmbda * bpp, mse, bpp


def coarse_target(target: torch.Tensor) -> torch.Tensor:
    """``target`` [C, H, W] at half resolution, the size of the second-finest latent grid
    (ceil(H / 2) x ceil(W / 2)): the mean of each 2x2 block, of what lies inside at an odd
    edge."""
    return F.avg_pool2d(target[None], 2, ceil_mode=True, count_include_pad=False)[0].contiguous()


def _coarse_loss(
    model: OverfittedCodec, half: torch.Tensor, pixels: int, lmbda: torch.Tensor, quantize: Proxy
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_loss` of the half-resolution image ``half`` (:func:`coarse_target`) from every
    grid but the finest: the coarser grids go through their own filters up to the second grid's
    size, the synthesis sees the finest grid's channel as zeros, and the rate is that of the
    coarser grids, per pixel of the whole image (``pixels``), so that a bit costs what it costs
    at full resolution."""
    grids = _proxied(model, quantize, start=1)
    up = model.upsampler(grids)
    recon = model.synthesis(torch.cat([torch.zeros_like(up[:1]), up]))
    mse = mean_squared_error(recon, half)
    bpp = model.arm.bits(grids) / pixels
    return mse + lmbda * bpp, mse, bpp


def _step(
    model: OverfittedCodec,
    target: torch.Tensor,
    lmbda: torch.Tensor,
    settings: StepSettings,
    half: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Forward and backward of one step (eager: compiling the step costs more than it saves
    and has corrupted the heap on two threads); gradients accumulate in the parameters.
    A coarse step (``settings.coarse``) trains ``half``, the :func:`coarse_target`."""
    if settings.coarse and settings.proxy is not None and half is not None:
        pixels = target.shape[1] * target.shape[2]
        out = _coarse_loss(model, half, pixels, lmbda, settings.proxy)
    else:
        out = _loss(model, target, lmbda, settings.proxy)
    out[0].backward()
    return out


class _Optimizers:
    """Adam for the latents, SOAP for the networks (as Cool-chic 5), each with its own rate
    (neither a ``torch.optim.Optimizer``: :mod:`lnic.encoder.param_groups`)."""

    def __init__(self, model: OverfittedCodec, per_grid: bool = False) -> None:
        latents = list(model.latents.grids)
        networks = [
            *model.upsampler.parameters(),
            *model.synthesis.parameters(),
            *model.arm.parameters(),
        ]
        # per_grid: one group per grid (finest first), so that a phase can set each grid's rate
        # (NoisePhase.grid_lr_ratio, fine_grid_delay); otherwise one group, one fused update
        groups = [{"params": [g]} for g in latents] if per_grid else [{"params": latents}]
        self.latents = LatentAdam(groups, betas=BETAS)
        self.networks = Soap(networks, betas=BETAS)

    def zero_grad(self) -> None:
        self.latents.zero_grad(set_to_none=True)
        self.networks.zero_grad(set_to_none=True)

    def step(self, settings: StepSettings) -> None:
        """One update of every parameter at the learning rates of ``settings``."""
        for k, group in enumerate(self.latents.param_groups):
            lr = max(settings.latent_lr * settings.grid_lr_ratio**k, MIN_LR)
            group["lr"] = 0.0 if k < settings.held_grids else lr
        for group in self.networks.param_groups:
            group["lr"] = max(settings.net_lr, MIN_LR)
        self.latents.step()
        if not settings.nets_frozen:
            self.networks.step()


class StepCounter:
    """Steps done over all the fit's trainings, for ``progress``."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def tick(self, stats: dict[str, float]) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, stats)


class Training:
    """One model's way through the preset's steps, which :meth:`advance` runs in stretches.

    Optimiser moments carry over from one phase to the next. Where the last phase rounds hard,
    :meth:`finish` leaves the model with the best parameters that rounding saw.
    """

    def __init__(
        self,
        model: OverfittedCodec,
        target: torch.Tensor,
        lmbda: float,
        preset: Preset,
        steering: RateSteering | None,
        counter: StepCounter,
    ) -> None:
        self.model, self.target, self.steering, self.counter = model, target, steering, counter
        self.lam = torch.tensor(lmbda)
        per_grid = any(getattr(phase, "rates_grids_apart", False) for phase in preset.phases)
        coarse = any(getattr(phase, "coarse_share", 0.0) > 0 for phase in preset.phases)
        self.half = coarse_target(target) if coarse and len(model.latents.grids) > 1 else None
        self.optimizers = _Optimizers(model, per_grid)
        self.best = BestParameters(model)
        self.schedule = [(phase, i) for phase in preset.phases for i in range(phase.steps)]
        self.done, self.noise_done = 0, 0
        self.stats: dict[str, float] = {}
        self.stopped = False

    def advance(self, until: int) -> None:
        """Run the steps up to ``until`` (of the preset's), or until the steering asks to
        start again (:attr:`stopped`)."""
        model, lam, steering = self.model, self.lam, self.steering
        while self.done < min(until, len(self.schedule)) and not self.stopped:
            phase, i = self.schedule[self.done]
            settings = phase.at(i)
            if settings.proxy is not None:
                if steering is not None and steering.due(self.noise_done):
                    steering.observe(self.noise_done, hard_rounded_bits(model))
                    if steering.restart:
                        self.stopped = True  # the caller trains a new model at the new lambda
                        return
                    lam.fill_(steering.lmbda)
                self.noise_done += 1
            self.optimizers.zero_grad()
            # A size target's steering measures the rate against its own lambda: no boost there.
            step_lam = lam * settings.rate_scale if steering is None else lam
            stride = settings.weight_grad_stride
            with (
                without_weight_gradients()
                if settings.nets_frozen
                else sampled_weight_gradients(stride, i % stride),
                log_scale_floor(settings.log_scale_lift),
            ):
                loss, mse, bpp = _step(model, self.target, step_lam, settings, self.half)
            if settings.proxy is None:
                self.best.offer(loss.item())
            self.optimizers.step(settings)
            self.done += 1
            self.stats = {
                "loss": loss.item(),
                "mse": mse.item(),
                "bpp": bpp.item(),
                "phase": float(settings.proxy is None),
                "lmbda": step_lam.item(),
            }
            self.counter.tick(self.stats)

    @torch.no_grad()
    def rounded_loss(self) -> float:
        """``MSE + lambda * bpp`` of the model now with hard-rounded latents, at the format's
        log-scale floor: what a file made now would cost, up to the networks' bits."""
        return float(_loss(self.model, self.target, self.lam, None)[0])

    def finish(self) -> dict[str, float]:
        """The last step's loss terms, with ``steps``: all the steps the fit ran (a trial's
        included); the model takes the best parameters hard rounding saw."""
        if not self.stopped:
            self.best.restore()
        return {**self.stats, "steps": float(self.counter.done)}
