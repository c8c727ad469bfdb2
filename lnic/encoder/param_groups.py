"""The little of ``torch.optim.Optimizer`` that the encoder's optimisers use, without its cost.

``torch.optim.Optimizer`` imports ``torch._dynamo`` on its first ``zero_grad`` or
``add_param_group`` (they are wrapped to keep the compiler out): 1.8 s of every encode on the
project's CPU, and of every batch worker, for a compiler the encoder does not use. The
encoder's two optimisers (:class:`lnic.encoder.soap.Soap` for the networks,
:class:`lnic.encoder.latent_adam.LatentAdam` for the latents) keep the same interface on this
base: ``param_groups`` (dicts with ``params`` and the defaults), per-parameter ``state``, and
``zero_grad``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import torch


class ParamGroups:
    """Parameter groups with defaults, per-parameter state, and ``zero_grad``."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        items = list(params)
        if not items:
            raise ValueError("an optimiser needs at least one parameter")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = [
            {**defaults, **group, "params": list(group["params"])} for group in groups
        ]
        self.state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (or zero) every parameter's gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()
