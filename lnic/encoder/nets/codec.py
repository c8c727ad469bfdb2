"""The float per-image model the encoder trains: latents + ARM + upsampling + synthesis."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lnic.encoder.nets.arm import Arm
from lnic.encoder.nets.synthesis import Synthesis
from lnic.encoder.nets.upsampling import Upsampler
from lnic.model.architecture import Architecture
from lnic.model.latents import grid_shapes


class LatentPyramid(nn.Module):
    """The trainable latent grids, finest first, initialised to zero (as in Cool-chic): every
    grid starts silent and the rate term decides where latents are worth their bits."""

    def __init__(self, shapes: list[tuple[int, int]]):
        super().__init__()
        self.grids = nn.ParameterList([nn.Parameter(torch.zeros(h, w)) for h, w in shapes])
        #: indices of the grids held at exact zero through the fit (:meth:`leave_empty`)
        self.empty: set[int] = set()

    def leave_empty(self, k: int) -> None:
        """Zero grid ``k`` and keep it out of training: no gradient, no optimiser update, and
        no proxy noise (the rate and the synthesis see its exact zeros)."""
        with torch.no_grad():
            self.grids[k].zero_()
        self.grids[k].requires_grad_(False)
        self.empty.add(k)

    def proxied(
        self, proxy: Callable[[torch.Tensor], torch.Tensor], start: int = 0
    ) -> list[torch.Tensor]:
        """Grids ``start``.. through ``proxy``, but for the empty ones, which stay as they are."""
        return [g if k in self.empty else proxy(g) for k, g in enumerate(self.grids) if k >= start]

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [tuple(g.shape) for g in self.grids]  # type: ignore[misc]

    def count(self) -> int:
        """Total number of latents."""
        return sum(g.numel() for g in self.grids)


class OverfittedCodec(nn.Module):
    """All trainable parts for one image of ``height`` x ``width``."""

    def __init__(self, arch: Architecture, height: int, width: int):
        super().__init__()
        self.arch = arch
        self.latents = LatentPyramid(grid_shapes(height, width, arch.levels))
        self.arm = Arm(arch.arm_hidden, arch.arm_layers)
        self.upsampler = Upsampler(arch.levels)
        self.synthesis = Synthesis(arch.levels, arch.synth_hidden, arch.channels)

    def network_parameters(self) -> list[nn.Parameter]:
        """Parameters of the decoder networks (everything but the latents)."""
        return [*self.arm.parameters(), *self.upsampler.parameters(), *self.synthesis.parameters()]

    def forward(
        self, rate_grids: list[torch.Tensor], synth_grids: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction [C, H, W] from ``synth_grids`` and the rate in bits of ``rate_grids``.

        The two differ during training (the rate sees noisy latents, the synthesis soft-rounded
        ones); after training both are the rounded latents.
        """
        return self.synthesis(self.upsampler(synth_grids)), self.arm.bits(rate_grids)
