"""The best checkpoint of a training's hard-rounded steps, which the fit ends with."""

from __future__ import annotations

import torch

__all__ = ["BestParameters"]


class BestParameters:
    """The parameters with the lowest hard-rounded loss seen so far.

    Only hard-rounded losses are compared: they are what the file gets, while the proxy's loss
    is not (it sees continuous information that rounding destroys).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.params = list(model.parameters())
        self.loss = float("inf")
        self.values: list[torch.Tensor] | None = None

    def offer(self, loss: float) -> None:
        """Remember the current parameters if ``loss`` (their loss) is the lowest so far."""
        if self.values is None or loss < self.loss:
            self.loss = loss
            self.values = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def restore(self) -> None:
        """Put the remembered parameters back (nothing if none was offered)."""
        if self.values is not None:
            for p, value in zip(self.params, self.values):
                p.copy_(value)
