"""Rate of latents under a discretised Laplace distribution (float, differentiable)."""

from __future__ import annotations

import math

import torch

_LN2 = math.log(2.0)


def laplace_bits(x: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """-log2 P(x) where P is the mass of [x - 0.5, x + 0.5] under Laplace(mu, exp(log_scale)).

    Written in the log domain for |x - mu| >= 0.5 so that far tails stay finite and smooth.
    """
    inv_b = torch.exp(-log_scale)
    d = (x - mu).abs()
    # |d| >= 1/2: P = 0.5 * exp(-(d - 0.5)/b) * (1 - exp(-1/b))
    # (each branch sees d clamped to its own side, so the unused one never overflows)
    d_tail = d.clamp_min(0.5)
    log_tail = math.log(0.5) - (d_tail - 0.5) * inv_b + torch.log(-torch.expm1(-inv_b))
    # |d| < 1/2: P = 1 - exp(-0.5/b) * cosh(d/b)
    d_near = d.clamp_max(0.5)
    near = 1.0 - 0.5 * (torch.exp(-(0.5 - d_near) * inv_b) + torch.exp(-(0.5 + d_near) * inv_b))
    log_near = torch.log(near.clamp_min(1e-12))
    return -torch.where(d >= 0.5, log_tail, log_near) / _LN2
