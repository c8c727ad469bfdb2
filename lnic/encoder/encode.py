"""Encoding one image end to end: fit, quantize, code, then decode the file to check it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np

from lnic.encoder import require_torch

try:
    import torch
except ImportError:
    require_torch()  # raises the one-line error that names the encoder's extra
    raise

from lnic.bitstream.container import Sections, pack_file, unpack_file
from lnic.bitstream.header import Header
from lnic.bitstream.latent_coding import encode_latents, latent_bits
from lnic.bitstream.weights import encode_weights
from lnic.decoder import decode_sections, reconstruct
from lnic.encoder.fitting import fit_best
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import QUALITY_LAMBDAS, NoisePhase, Preset, get_preset
from lnic.encoder.quantize import quantize_latents, quantize_networks
from lnic.encoder.rate_control import (
    RateSteering,
    SizeTarget,
    estimated_weight_bytes,
    initial_lambda,
)
from lnic.encoder.size_fit import MeanRounding, fit_size
from lnic.encoder.sizing import choose_architecture
from lnic.errors import InputError, SelfCheckError
from lnic.image_io import psnr, validate_array
from lnic.model.architecture import Architecture
from lnic.model.parts import DecoderWeights

log = logging.getLogger(__name__)


@dataclass
class EncodeResult:
    """A bitstream and what the encoder measured on it (after decoding it)."""

    bitstream: bytes
    reconstruction: np.ndarray
    width: int
    height: int
    channels: int
    lmbda: float
    preset: str
    quality: int | None
    psnr_rgb: float
    encode_seconds: float
    mac_table: dict[str, float]
    section_bytes: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    """Training steps run."""
    target: SizeTarget | None = None
    """The file size asked for (``None``: a plain quality or lambda encode)."""
    dead_zone: float = 0.0
    """The rounding dead zone that took a steered file to its target (0: nearest)."""
    icc_profile: bytes | None = field(default=None, repr=False)
    """The colour profile to carry in the file's metadata."""
    model: OverfittedCodec | None = field(default=None, repr=False)
    """The trained float model before quantization (for research: re-quantizing, probing)."""

    @property
    def bpp(self) -> float:
        """Bits per pixel of the whole file (8 * file bytes / pixels)."""
        return 8.0 * len(self.bitstream) / (self.width * self.height)

    def summary(self) -> dict:
        """The JSON object ``lnic encode --json`` prints."""
        return {
            "width": self.width,
            "height": self.height,
            "channels": self.channels,
            "bytes": len(self.bitstream),
            "bpp": self.bpp,
            "psnr_rgb": self.psnr_rgb,
            "mac_per_pixel": self.mac_table["total"],
            "encode_seconds": self.encode_seconds,
            "quality": self.quality,
            "lmbda": self.lmbda,
            "target_bytes": None if self.target is None else self.target.bytes,
            "target_bpp": None if self.target is None else self.target.bpp,
            "steps": self.steps,
            "preset": self.preset,
            "section_bytes": self.section_bytes,
        }


STEERING_AIM = 1.0
"""The fraction of the target the steering aims at. A file above the target by more than
:data:`SIZE_TOLERANCE` is corrected (:mod:`lnic.encoder.size_fit`); one below it is not."""

SIZE_TOLERANCE = 0.025
"""A steered file at most this fraction above its target is kept as lambda made it; further
above, the latents' rounding brings it down to the target (:mod:`lnic.encoder.size_fit`).
That rounding costs about twice the rate it saves, at equal PSNR: it is for the outliers."""

CODER_SLACK_BITS = 64.0
"""What the range coder may write beyond the latents' ideal code length (its final words)."""

MAX_WEIGHT_SHARE = 0.5
"""Before the steering measures the networks' bytes, it expects them to take at most this share
of the file (on small images their usual ~1.1 kB can exceed a small target)."""

RIVAL_SEED_OFFSET = 1_000_003
"""A race of starts (:func:`lnic.encoder.race.start_race`) sets the encode's seed against this
much more: far from the small seeds people pass, so that the races of seeds 0 and 1 share no
start."""

QUANTIZATION_LOSS_WARN_DB = 0.5
"""Weight quantization normally costs < 0.05 dB; more is logged as a warning (a module whose
weights span ranges that one power-of-two step cannot serve)."""


def _report_weight_quantization(
    model: OverfittedCodec, grids: list[np.ndarray], target: np.ndarray, decoded: np.ndarray
) -> None:
    """Log the PSNR of the float networks on the rounded latents next to the file's."""
    with torch.no_grad():
        rounded = [torch.from_numpy(g.astype(np.float32)) for g in grids]
        rec, _ = model(rounded, rounded)
    float_rec = (rec.clamp(0, 1) * 255).round().numpy().transpose(1, 2, 0).astype(np.uint8)
    before, after = psnr(float_rec, target), psnr(decoded, target)
    level = logging.WARNING if before - after > QUANTIZATION_LOSS_WARN_DB else logging.INFO
    log.log(level, "weight quantization: %.3f dB (float networks) -> %.3f dB (file)", before, after)


def resolve_lambda(quality: int | None, lmbda: float | None) -> tuple[int | None, float]:
    """The quality (``None`` when lambda is given) and lambda of a plain encode request."""
    if lmbda is not None:
        if isinstance(lmbda, bool) or not isinstance(lmbda, (int, float)):
            raise InputError(f"lambda must be a number, got {lmbda!r}")
        if not (lmbda > 0 and np.isfinite(lmbda)):
            raise InputError(f"lambda must be a positive number, got {lmbda}")
        return None, float(lmbda)
    quality = 4 if quality is None else quality
    if isinstance(quality, bool) or quality not in QUALITY_LAMBDAS:
        raise InputError(f"quality must be 1..8, got {quality!r}")
    return quality, QUALITY_LAMBDAS[quality]


def _request(
    quality: int | None,
    lmbda: float | None,
    target_bytes: int | None,
    target_bpp: float | None,
    pixels: int,
) -> tuple[int | None, float, SizeTarget | None]:
    """(quality, starting lambda, size target) of an encode request."""
    target = SizeTarget.resolve(target_bytes, target_bpp, pixels)
    if target is None:
        return (*resolve_lambda(quality, lmbda), None)
    if quality is not None or lmbda is not None:
        raise InputError("a target size excludes quality and lambda: give one of them")
    return None, initial_lambda(8.0 * target.bytes / pixels), target


def _plan(preset: str | Preset, pixels: int, steps: int | None, steered: bool) -> Preset:
    """The phases run for an image of ``pixels``: the preset's, scaled to the image size, or
    exactly ``steps`` steps in all; ``steered`` (a size target): without coarse steps
    (:meth:`Preset.at_full_resolution`)."""
    cfg = preset if isinstance(preset, Preset) else get_preset(preset)
    if steered:
        cfg = cfg.at_full_resolution()
    return cfg.scaled(pixels) if steps is None else cfg.with_steps(steps)


@dataclass(frozen=True)
class _Container:
    """How this encode's files are packed: the header, and the metadata every file carries."""

    header: Header
    icc_profile: bytes | None = None

    def pack(self, weights: bytes, latents: bytes, escapes: bytes) -> bytes:
        """The whole file (every file the encoder writes or sizes goes through here)."""
        return pack_file(self.header, weights, latents, escapes, icc_profile=self.icc_profile)

    @property
    def overhead(self) -> int:
        """The bytes of a file with empty sections: what no target can go below."""
        return len(self.pack(b"", b"", b""))


@dataclass(frozen=True)
class _Job:
    """What one encode trains on and for."""

    arch: Architecture
    pixels3: np.ndarray
    plan: Preset
    target: SizeTarget | None
    container: _Container
    seed: int


def _steering(job: _Job, model: OverfittedCodec, lam: float, may_restart: bool) -> RateSteering:
    """The lambda controller of a steered encode (``job.target`` is set)."""
    assert job.target is not None
    h, w = job.pixels3.shape[:2]
    budget = STEERING_AIM * job.target.bytes - job.container.overhead

    def weigh(lmbda: float) -> int:
        """The networks' bytes if the training ended now."""
        grids = quantize_latents(model)
        weights = quantize_networks(
            model, grids, job.pixels3, lmbda, partial(reconstruct, grids=grids)
        )
        return len(encode_weights(weights))

    weights = min(estimated_weight_bytes(model.arch), MAX_WEIGHT_SHARE * budget)
    noise = [p.at(i) for p in job.plan.phases if isinstance(p, NoisePhase) for i in range(p.steps)]
    learning = np.cumsum([0.0] + [settings.latent_lr for settings in noise])
    return RateSteering(
        8.0 * budget,
        8.0 * weights,
        h * w,
        len(noise),
        lam,
        weigh=weigh,
        may_restart=may_restart,
        clock=list(learning[:-1] / max(learning[-1], 1e-12)),
    )


def _seeded_model(arch: Architecture, height: int, width: int, seed: int) -> OverfittedCodec:
    """A fresh model whose initial parameters and later random draws (the proxy's noise)
    follow from ``seed``."""
    torch.manual_seed(seed)
    return OverfittedCodec(arch, height, width)


def _train(
    job: _Job, lam: float, progress: Callable[[int, int, dict[str, float]], None] | None
) -> tuple[OverfittedCodec, float, int]:
    """(trained model, final lambda, steps run). A steered encode whose first measurement
    finds lambda far off trains a new model from scratch at the corrected lambda."""
    h, w = job.pixels3.shape[:2]
    target = torch.from_numpy(job.pixels3.transpose(2, 0, 1).astype(np.float32) / 255.0)
    steps = 0

    def seeded(arch: Architecture, k: int) -> OverfittedCodec:
        return _seeded_model(arch, h, w, job.seed + k * RIVAL_SEED_OFFSET)

    for may_restart in (True, False):
        model = _seeded_model(job.arch, h, w, job.seed)
        steering = None if job.target is None else _steering(job, model, lam, may_restart)
        model, stats = fit_best(model, target, lam, job.plan, progress, steering, seeded)
        if steering is None:  # a finest-grid trial or a race of starts runs more steps
            return model, lam, int(stats.get("steps", job.plan.steps))
        if not steering.restart:
            return model, steering.lmbda, steps + job.plan.steps
        steps += steering.history[0][0]
        log.info("lambda %.5g -> %.5g: training again from scratch", lam, steering.lmbda)
        lam = steering.lmbda
    raise AssertionError("a second training never restarts")


def _write(container: _Container, weights: DecoderWeights, grids: list[np.ndarray]) -> bytes:
    """The file of quantized networks and integer latents."""
    latents, escapes = encode_latents(grids, weights.arm)
    return container.pack(encode_weights(weights), latents, escapes)


class _Sized(NamedTuple):
    data: bytes
    grids: list[np.ndarray]
    dead_zone: float


def _meet_target(
    sized: _Sized, target: SizeTarget, model: OverfittedCodec, container: _Container, weights
) -> _Sized:
    """The file as it is, unless it exceeds the target by more than :data:`SIZE_TOLERANCE`:
    then with the latents near a rounding boundary moved to fit (:mod:`.size_fit`)."""
    log.info("target %d bytes: %d bytes from lambda alone", target.bytes, len(sized.data))
    if len(sized.data) <= target.bytes * (1.0 + SIZE_TOLERANCE):
        return sized
    overhead = len(container.pack(encode_weights(weights), b"", b""))
    rounding = MeanRounding([g.detach().double().numpy() for g in model.latents.grids], weights.arm)
    budget = 8.0 * (target.bytes - overhead) - CODER_SLACK_BITS
    fitted = fit_size(rounding, budget, lambda grids: latent_bits(grids, weights.arm))
    return _Sized(_write(container, weights, fitted.grids), fitted.grids, fitted.dead_zone)


def _report_target(target: SizeTarget, sections: Sections, lmbda: float, dead_zone: float) -> None:
    size = sum(sections.section_bytes().values())
    if size > target.bytes * (1.0 + SIZE_TOLERANCE):
        log.warning(
            "%d bytes for a target of %d bytes: not reached (the networks take %d bytes)",
            size,
            target.bytes,
            sections.section_bytes()["weights"],
        )
    log.info(
        "target %d bytes: %d at lambda %.5g (dead zone %.3f)", target.bytes, size, lmbda, dead_zone
    )


def encode_array(
    image: np.ndarray,
    quality: int | None = None,
    preset: str | Preset = "default",
    lmbda: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    *,
    target_bytes: int | None = None,
    target_bpp: float | None = None,
    steps: int | None = None,
    icc_profile: bytes | None = None,
    arch: Architecture | None = None,
) -> EncodeResult:
    """Encode an (H, W, 3) or (H, W) uint8 array and verify the written bitstream.

    ``quality`` (1..8, default 4) or ``lmbda`` set the rate-distortion trade-off; instead,
    ``target_bytes`` or ``target_bpp`` ask for a file size, and lambda is steered during
    training to meet it. ``steps`` runs exactly that many training steps instead of the
    preset's. ``icc_profile`` is carried on the result for the file's metadata. ``arch`` is
    the decoder to train (default: :func:`lnic.encoder.sizing.choose_architecture`'s for the
    image size, or a smaller one where it wins the preset's race of starts).
    """
    start = time.perf_counter()
    image = validate_array(image)
    h, w = image.shape[:2]
    quality, lam, target = _request(quality, lmbda, target_bytes, target_bpp, h * w)
    plan = _plan(preset, h * w, steps, target is not None)
    if icc_profile is not None and not isinstance(icc_profile, bytes):
        raise InputError(f"icc_profile must be bytes, got {type(icc_profile).__name__}")
    channels = 1 if image.ndim == 2 else 3
    pixels3 = image.reshape(h, w, channels)
    if arch is not None:
        plan = plan.with_decoder_fixed()
    arch = arch or choose_architecture(h, w, channels)
    container = _Container(Header(w, h, arch, 0, 0, 0), icc_profile)
    if target is not None and target.bytes <= container.overhead:
        raise InputError(f"a file takes at least {container.overhead + 1} bytes")

    job = _Job(arch, pixels3, plan, target, container, seed)
    model, lam, steps_run = _train(job, lam, progress)
    if model.arch != arch:  # a smaller decoder won the race of starts
        arch = model.arch
        container = _Container(Header(w, h, arch, 0, 0, 0), icc_profile)

    grids = quantize_latents(model)
    weights = quantize_networks(model, grids, pixels3, lam, lambda trial: reconstruct(trial, grids))
    sized = _Sized(_write(container, weights, grids), grids, 0.0)
    if target is not None:
        sized = _meet_target(sized, target, model, container, weights)
    data, grids, dead_zone = sized
    expected = reconstruct(weights, grids)

    sections = unpack_file(data)
    decoded = decode_sections(sections).reshape(h, w, channels)
    if not np.array_equal(decoded, expected):
        raise SelfCheckError("the decoded bitstream differs from the encoder's reconstruction")
    _report_weight_quantization(model, grids, pixels3, decoded)
    if target is not None:
        _report_target(target, sections, lam, dead_zone)
    return EncodeResult(
        bitstream=data,
        reconstruction=decoded if channels == 3 else decoded[:, :, 0],
        width=w,
        height=h,
        channels=channels,
        lmbda=lam,
        preset=plan.name,
        quality=quality,
        psnr_rgb=psnr(decoded, pixels3),
        encode_seconds=time.perf_counter() - start,
        mac_table=arch.mac_table(h, w),
        section_bytes=sections.section_bytes(),
        steps=steps_run,
        target=target,
        dead_zone=dead_zone,
        icc_profile=icc_profile,
        model=model,
    )
