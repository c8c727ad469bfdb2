"""A target file size in one encode: lambda steered while the model trains.

An overfitted encoder sees its own rate at every step, so it can adjust the rate-distortion
trade-off while it trains instead of searching over whole encodes. During the noise phase,
:class:`RateSteering` measures the bits of the hard-rounded latents under the current ARM every
few steps, predicts the final file's latent bits from them (the rate keeps falling a little
until the end of training, by a calibrated amount), and moves ``log(lambda)`` towards the
target; it freezes lambda for the last part of the noise phase, so that the model ends its
training at one lambda, as a plain encode does. :func:`lnic.encoder.size_fit.fit_size` then
brings down a file that is still above its target.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from lnic.encoder.nets.codec import OverfittedCodec
from lnic.errors import InputError
from lnic.model.architecture import Architecture

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SizeTarget:
    """The file size asked for, in bytes (a ``target_bpp`` is turned into bytes)."""

    bytes: int
    bpp: float | None = None
    """The bits per pixel asked for, when the request was in bpp."""

    @staticmethod
    def resolve(
        target_bytes: int | None, target_bpp: float | None, pixels: int
    ) -> SizeTarget | None:
        """The target of an encode request (``None`` for a plain quality or lambda encode);
        non-positive or non-finite values are an :class:`InputError`."""
        if target_bytes is not None and target_bpp is not None:
            raise InputError("give a target size in bytes or in bpp, not both")
        if target_bytes is not None:
            if isinstance(target_bytes, bool) or not isinstance(target_bytes, int):
                raise InputError(f"target_bytes must be an integer, got {target_bytes!r}")
            if target_bytes <= 0:
                raise InputError(f"target size must be positive, got {target_bytes} bytes")
            return SizeTarget(target_bytes)
        if target_bpp is not None:
            if isinstance(target_bpp, bool) or not isinstance(target_bpp, (int, float)):
                raise InputError(f"target_bpp must be a number, got {target_bpp!r}")
            if not (target_bpp > 0 and math.isfinite(target_bpp)):
                raise InputError(f"target bpp must be a positive number, got {target_bpp}")
            return SizeTarget(max(1, round(target_bpp * pixels / 8.0)), float(target_bpp))
        return None


@dataclass(frozen=True)
class SteeringSettings:
    """How :class:`RateSteering` moves lambda; fractions are of the noise phase's steps."""

    start: float = 0.25
    """Lambda stays at its first guess until here: before, the rate is far from settled (the
    latents start at zero and grow; at low rates the rate is still falling fast)."""
    freeze: float = 0.8
    """Lambda is fixed from here to the end, so the model ends its training at one lambda."""
    updates: int = 50
    """Measurements over the whole noise phase (one every ``steps / updates`` steps)."""
    elasticity: float = 0.8
    """The final rate goes about as ``lambda ** -elasticity`` (0.6-1.0 between neighbouring
    qualities in fast encodes of dev-set images)."""
    lag: float = 0.22
    """The rate follows lambda with a delay, modelled as a first-order lag of this share of the
    noise phase's learning (the clock :attr:`RateSteering.clock` runs with the latents'
    learning rate, so the rate follows more slowly as it decays): in a fast encode of a
    dev-set image, lambda moved 8x down over a fifth of the phase and the rate kept rising for
    a tenth more, having followed lambda only to 3x."""
    min_reach: float = 0.25
    """A change of lambda shows in the final rate only as far as the remaining learning lets
    it (its reach), so the steering moves lambda by the change it wants to the power
    ``1 / reach``; at most to the power ``1 / min_reach``, so that late noise in the measured
    rate does not swing lambda."""
    restart_factor: float = 1.6
    """Where the first measurement puts lambda further than this factor from its first guess,
    training starts again from scratch at the corrected lambda (if allowed): the first quarter
    of the noise phase at a lambda 3x too high cost 4.7% of rate at equal PSNR in a fast encode
    of a dev-set image, where a 1.5x correction cost nothing measurable."""
    max_factor: float = 8.0
    """The most one update moves lambda from the lambda the rate reflects, either way."""
    lmbda_min: float = 1e-6
    lmbda_max: float = 1.0
    drift: float = 0.54
    """The hard-rounded rate at noise-phase fraction ``f`` is about ``1 + drift * (0.95 -
    f) ** 2`` times its value at the end of training (fixed-lambda fast encodes of four
    dev-set images at 0.2-1.7 bpp: 2% rms from ``f = 0.6`` on, 6% from ``f = 0.3``)."""
    file_over_float: float = 1.006
    """The file's latent bytes over the float model's hard-rounded bits / 8 at the end."""
    weigh_at: float = 0.5
    """Where the networks are quantized once to measure their bytes (their expected share of
    the file is a guess before: 3-9 bits a parameter, depending on the image and lambda). It
    costs a quantization: about 7 s of CPU for a 768x512 image, a tenth of a fast encode."""
    weight_elasticity: float = 0.1
    """Once weighed, the networks' bytes are expected to go as ``lambda ** -weight_elasticity``
    (0.03-0.15 between the qualities of fast encodes, most on small images)."""
    min_latent_share: float = 0.1
    """The latents' budget never falls below this share of the file, so that where the
    networks alone exceed the target, lambda rises (which coarsens the networks too)."""


def initial_lambda(target_bpp: float) -> float:
    """A first guess of the lambda that reaches ``target_bpp``: about 0.25 bpp at lambda 0.01
    on photographs, the rate going as ``lambda ** -0.7`` (images differ by 2x either way)."""
    return 0.01 * (target_bpp / 0.25) ** (-1.0 / 0.7)


@torch.no_grad()
def hard_rounded_bits(model: OverfittedCodec) -> float:
    """Bits of the model's rounded latents under its float ARM (what the file's latents cost,
    up to the ARM's quantization and the range coder)."""
    return float(model.arm.bits([torch.round(g) for g in model.latents.grids]))


@dataclass
class RateSteering:
    """Moves lambda during the noise phase so that the file's final size meets a budget.

    The rate answers a change of lambda late (:attr:`SteeringSettings.lag`): a controller that
    moves lambda until the rate it sees is right overshoots, and a lambda that swings costs
    rate at equal quality (up to 12% against plain encodes, measured). So each update asks
    which lambda the rate seen reflects (``adapted``: lambda, lagged), predicts the final rate
    at that lambda, and sets lambda to where that rate would meet the budget
    (:attr:`SteeringSettings.elasticity`).

    ``budget_bits`` is what the file has for the networks and the latents (the target less the
    header); ``weight_bits`` the networks' expected share, until ``weigh(lambda)`` (if given)
    measures their bytes once, at ``settings.weigh_at`` of the noise phase. ``noise_steps`` are
    the steps of the noise phases, over which :meth:`due` and :meth:`observe` count.
    """

    budget_bits: float
    weight_bits: float
    pixels: int
    noise_steps: int
    lmbda: float
    settings: SteeringSettings = field(default_factory=SteeringSettings)
    weigh: Callable[[float], int] | None = field(default=None, repr=False)
    weighed_at: float | None = None
    """The lambda at which the networks were weighed (``None``: not yet)."""
    may_restart: bool = False
    """Whether the first measurement may ask to start training again (:attr:`restart`)."""
    restart: bool = False
    """Set by :meth:`observe`: train a new model from scratch at :attr:`lmbda`."""
    clock: list[float] | None = None
    """The share of the noise phase's learning done before each noise step (the latents'
    learning rates summed, from 0 to 1); ``None``: as the steps."""
    adapted: float | None = None
    """The lambda the current rate reflects (``None`` before the first measurement)."""
    last_time: float = 0.0
    history: list[tuple[int, float, float]] = field(default_factory=list)
    """(noise step, predicted final bpp of the latents, lambda after the update) of every
    measurement."""

    @property
    def latent_bits(self) -> float:
        """The latents' budget: what the networks leave of the file at the current lambda, or
        a least share of it."""
        weights = self.weight_bits
        if self.weighed_at is not None:
            weights *= (self.lmbda / self.weighed_at) ** -self.settings.weight_elasticity
        share = self.settings.min_latent_share * self.budget_bits
        return max(self.budget_bits - weights, share, 1.0)

    @property
    def interval(self) -> int:
        return max(1, self.noise_steps // self.settings.updates)

    def due(self, step: int) -> bool:
        """Whether noise step ``step`` (0-based) measures the rate and may move lambda."""
        s = self.settings
        frac = step / max(self.noise_steps, 1)
        return s.start <= frac < s.freeze and step % self.interval == 0

    def observe(self, step: int, hard_bits: float) -> None:
        """Update lambda from the hard-rounded bits measured before noise step ``step``."""
        s = self.settings
        frac = step / max(self.noise_steps, 1)
        time = frac if self.clock is None else self.clock[min(step, len(self.clock) - 1)]
        if self.adapted is None:
            self.adapted = self.lmbda  # lambda has not moved yet
        else:
            follow = 1.0 - math.exp(-(time - self.last_time) / s.lag)
            self.adapted *= (self.lmbda / self.adapted) ** follow
        self.last_time = time
        reach = max(1.0 - math.exp(-(1.0 - time) / s.lag), s.min_reach)
        if self.weigh is not None and frac >= s.weigh_at:
            self.weight_bits = 8.0 * self.weigh(self.lmbda)
            self.weigh, self.weighed_at = None, self.lmbda
            log.debug("networks: %.0f bytes at lambda %.5g", self.weight_bits / 8, self.lmbda)
        settle = 1.0 + s.drift * max(0.95 - frac, 0.0) ** 2
        predicted = s.file_over_float * hard_bits / settle
        ratio = max(predicted, 1.0) / self.latent_bits
        wanted = ratio ** (1.0 / (s.elasticity * reach))
        factor = min(max(wanted, 1.0 / s.max_factor), s.max_factor)
        self.lmbda = min(max(self.adapted * factor, s.lmbda_min), s.lmbda_max)
        self.history.append((step, predicted / self.pixels, self.lmbda))
        first_move = max(self.lmbda / self.adapted, self.adapted / self.lmbda)
        self.restart = self.may_restart and len(self.history) == 1 and first_move > s.restart_factor
        log.debug(
            "step %d: predicted %.4f bpp of latents for %.4f at lambda %.5g -> %.5g",
            step,
            predicted / self.pixels,
            self.latent_bits / self.pixels,
            self.adapted,
            self.lmbda,
        )


WEIGHT_BITS_PER_PARAMETER = 7.4
"""About what a decoder parameter costs in the file (the mean of 6.8-9.0 bits in fast encodes
of four dev-set images at 0.2-1.7 bpp): the share of a target left to the networks."""


def estimated_weight_bytes(arch: Architecture) -> float:
    """The networks' expected bytes in the file, before they are trained and quantized."""
    count = sum(
        math.prod(shape.weight) + math.prod(shape.bias)
        for layers in arch.weight_shapes().modules().values()
        for shape in layers
    )
    return count * WEIGHT_BITS_PER_PARAMETER / 8.0
