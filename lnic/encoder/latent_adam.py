"""Adam for the latent grids: torch's fused kernel, called without ``torch.optim.Adam``.

The update is ``torch.optim.Adam(..., fused=True)``'s, step for step (the same kernel with the
same arguments: the latents train exactly as before); what goes is the import of
``torch._dynamo`` that ``torch.optim.Optimizer`` makes (:mod:`lnic.encoder.param_groups`).
A parameter without a gradient at a step is skipped and its step count stays, as in torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from lnic.encoder.param_groups import ParamGroups


class LatentAdam(ParamGroups):
    """Adam (no weight decay, no amsgrad) over float32 CPU tensors, fused."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            for p in params:
                if not self.state[p]:
                    self.state[p] = {
                        "step": torch.tensor(0.0),
                        "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                        "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
                    }
            states = [self.state[p] for p in params]
            steps = [s["step"] for s in states]
            torch._foreach_add_(steps, 1)
            beta1, beta2 = group["betas"]
            torch._fused_adam_(
                params,
                [p.grad for p in params],
                [s["exp_avg"] for s in states],
                [s["exp_avg_sq"] for s in states],
                [],
                steps,
                amsgrad=False,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=0.0,
                eps=group["eps"],
                maximize=False,
                grad_scale=None,
                found_inf=None,
            )
