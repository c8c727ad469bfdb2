"""Encoding one image end to end: fit, quantize, code, then decode the file to check it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lnic.encoder import require_torch

try:
    import torch
except ImportError:
    require_torch()  # raises the one-line error that names the encoder's extra
    raise

from lnic.bitstream.container import pack_file, unpack_file
from lnic.bitstream.header import Header
from lnic.bitstream.latent_coding import encode_latents
from lnic.bitstream.weights import encode_weights
from lnic.decoder import decode_sections, reconstruct
from lnic.encoder.nets.codec import OverfittedCodec
from lnic.encoder.presets import QUALITY_LAMBDAS, Preset, get_preset
from lnic.encoder.quantize import quantize_latents, quantize_networks
from lnic.encoder.train import fit
from lnic.errors import InputError, SelfCheckError
from lnic.image_io import psnr, validate_array
from lnic.model.architecture import Architecture
from lnic.model.latents import num_levels
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
            "preset": self.preset,
            "section_bytes": self.section_bytes,
        }


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
    if lmbda is not None:
        if not (lmbda > 0 and np.isfinite(lmbda)):
            raise InputError(f"lambda must be a positive number, got {lmbda}")
        return None, float(lmbda)
    quality = 4 if quality is None else quality
    if quality not in QUALITY_LAMBDAS:
        raise InputError(f"quality must be 1..8, got {quality}")
    return quality, QUALITY_LAMBDAS[quality]


def encode_array(
    image: np.ndarray,
    quality: int | None = 4,
    preset: str | Preset = "default",
    lmbda: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    arch: Architecture | None = None,
) -> EncodeResult:
    """Encode an (H, W, 3) or (H, W) uint8 array and verify the written bitstream."""
    start = time.perf_counter()
    image = validate_array(image)
    quality, lam = resolve_lambda(quality, lmbda)
    cfg = preset if isinstance(preset, Preset) else get_preset(preset)
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else 3
    pixels3 = image.reshape(h, w, channels)
    arch = arch or Architecture(levels=num_levels(h, w), channels=channels)

    torch.manual_seed(seed)
    target = torch.from_numpy(pixels3.transpose(2, 0, 1).astype(np.float32) / 255.0)
    model = OverfittedCodec(arch, h, w)
    fit(model, target, lam, cfg, progress)

    grids = quantize_latents(model)

    def recon(weights: DecoderWeights) -> np.ndarray:
        return reconstruct(weights, grids)

    weights = quantize_networks(model, grids, pixels3, lam, recon)
    latents, escapes = encode_latents(grids, weights.arm)
    data = pack_file(Header(w, h, arch, 0, 0, 0), encode_weights(weights), latents, escapes)
    expected = recon(weights)

    sections = unpack_file(data)
    decoded = decode_sections(sections).reshape(h, w, channels)
    if not np.array_equal(decoded, expected):
        raise SelfCheckError("the decoded bitstream differs from the encoder's reconstruction")
    _report_weight_quantization(model, grids, pixels3, decoded)
    elapsed = time.perf_counter() - start
    return EncodeResult(
        bitstream=data,
        reconstruction=decoded if channels == 3 else decoded[:, :, 0],
        width=w,
        height=h,
        channels=channels,
        lmbda=lam,
        preset=cfg.name,
        quality=quality,
        psnr_rgb=psnr(decoded, pixels3),
        encode_seconds=elapsed,
        mac_table=arch.mac_table(h, w),
        section_bytes=sections.section_bytes(),
        model=model,
    )
