"""Float ARM trained by the encoder (its exact integer twin is :mod:`lnic.model.arm`).

The training step runs the ARM on every latent of the pyramid (524k for a 768x512 image), so it
works channels-first: :class:`CausalContext` gathers the [N_CONTEXT, N] inputs with a hand-written
backward (one padded gradient buffer per grid instead of a zero-filled full-size tensor per
sliced neighbour), and the MLP is :class:`lnic.encoder.nets.mlp.ChannelsFirstMlp`, as the
synthesis' is (benchmarks/encode_speed.md has the timings). With the C kernels available,
:meth:`Arm.bits` runs the context gathering, the MLP and the rate fused in one native pass
(:class:`lnic.encoder.native.arm_ops.ArmRateGrids`). The row form (:func:`gather_context_torch`,
:meth:`Arm.forward`) is the reference the tests compare with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

from lnic.encoder.native.arm_ops import ArmRateGrids
from lnic.encoder.native.limits import MAX_LEVELS
from lnic.encoder.native.ops import fits
from lnic.encoder.nets.entropy import laplace_bits
from lnic.encoder.nets.mlp import mlp_channels_first
from lnic.format import ARM_CONTEXT
from lnic.model.arm import (
    CONTEXT_PAD,
    LOG_SCALE_MAX,
    LOG_SCALE_MIN,
    N_CONTEXT,
    coarser_colocated,
    gather_context,
)

_LOG_SCALE_FLOOR: ContextVar[float] = ContextVar("log_scale_floor", default=LOG_SCALE_MIN)


@contextmanager
def log_scale_floor(lift: float) -> Iterator[None]:
    """Within this block, :meth:`Arm.bits` clamps the log-scale at ``LOG_SCALE_MIN + lift``
    (``lift >= 0``) instead of the format's floor.

    A training-time floor above the format's keeps the entropy model from calling any latent
    certainly zero early on: at the format's floor a latent that leaves zero where the ARM
    predicts a scale of ~0.01 costs ~65 bits, which no distortion gradient pays, so a region
    whose latents all reached zero early cannot come back (a finest grid held at zero for its
    first 400 steps stays all zero to the end; benchmarks/ablation.md).
    """
    if not lift >= 0:
        raise ValueError(f"need lift >= 0, got {lift}")
    token = _LOG_SCALE_FLOOR.set(LOG_SCALE_MIN + float(lift))
    try:
        yield
    finally:
        _LOG_SCALE_FLOOR.reset(token)


def current_log_scale_floor() -> float:
    """The log-scale floor :meth:`Arm.bits` clamps at now (:func:`log_scale_floor`), for other
    rate models that must train under the same floor."""
    return _LOG_SCALE_FLOOR.get()


def _pad_torch(g: torch.Tensor) -> torch.Tensor:
    return F.pad(g[None, None], (CONTEXT_PAD, CONTEXT_PAD, CONTEXT_PAD, 0))[0, 0]


def gather_context_torch(grids: list[torch.Tensor]) -> torch.Tensor:
    """:func:`lnic.model.arm.gather_context` on torch tensors (differentiable): [N, N_CONTEXT]."""
    return gather_context(grids, _pad_torch, torch.stack, torch.cat)


class CausalContext(torch.autograd.Function):
    """The ARM inputs of every latent, channels-first: grids (finest first) -> [N_CONTEXT, N].

    Column ``n`` is row ``n`` of :func:`gather_context_torch`: the ARM_CONTEXT neighbours in the
    same grid (0 outside it), then the co-located latent of the next coarser grid (0 for the
    coarsest).
    """

    @staticmethod
    def forward(ctx, *grids):  # type: ignore[override]
        p = CONTEXT_PAD
        shapes = [tuple(g.shape) for g in grids]
        out = grids[0].new_empty(N_CONTEXT, sum(h * w for h, w in shapes))
        off = 0
        for k, g in enumerate(grids):
            h, w = shapes[k]
            view = out[:, off : off + h * w].view(N_CONTEXT, h, w)
            padded = _pad_torch(g)
            for i, (dy, dx) in enumerate(ARM_CONTEXT):
                view[i].copy_(padded[p + dy : p + dy + h, p + dx : p + dx + w])
            if k + 1 < len(grids):
                view[-1].copy_(coarser_colocated(grids[k + 1], (h, w)))
            else:
                view[-1].zero_()
            off += h * w
        ctx.shapes = shapes
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        p = CONTEXT_PAD
        shapes = ctx.shapes
        grads = []
        off = 0
        for h, w in shapes:
            view = grad[:, off : off + h * w].view(N_CONTEXT, h, w)
            acc = grad.new_zeros(h + p, w + 2 * p)
            for i, (dy, dx) in enumerate(ARM_CONTEXT):
                acc[p + dy : p + dy + h, p + dx : p + dx + w] += view[i]
            grads.append(acc[p:, p : p + w].clone())
            off += h * w
        off = 0
        for k, (h, w) in enumerate(shapes[:-1]):
            hc, wc = shapes[k + 1]
            colocated = grad[-1, off : off + h * w].view(h, w)
            full = F.pad(colocated, (0, 2 * wc - w, 0, 2 * hc - h))
            grads[k + 1] += full.view(hc, 2, wc, 2).sum((1, 3))
            off += h * w
        return tuple(grads)


class Arm(nn.Module):
    """Float ARM: N_CONTEXT -> hidden (x layers, ReLU) -> 2 outputs (mu, log-scale)."""

    def __init__(self, hidden: int, layers: int):
        super().__init__()
        dims = [N_CONTEXT] + [hidden] * layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(dims[-1], 2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def linears(self) -> list[nn.Linear]:
        return [*self.hidden, self.out]

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Row form: ``context`` [N, N_CONTEXT] -> (mu [N], log-scale [N])."""
        x = context
        for layer in self.hidden:
            x = torch.relu(layer(x))
        out = self.out(x)
        return out[:, 0], out[:, 1].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)

    def forward_grids(self, grids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log-scale) of every latent of ``grids`` (finest first, raster order), fast form."""
        out = mlp_channels_first(CausalContext.apply(*grids), self.linears())
        return out[0], out[1].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)

    def bits(self, grids: list[torch.Tensor], native: bool = True) -> torch.Tensor:
        """Total bits of ``grids`` (finest first) under this ARM's Laplace model.

        With ``native`` (and the C kernels available, :mod:`lnic.encoder.native`) the MLP and
        the rate run fused; otherwise :meth:`forward_grids` and :func:`laplace_bits`.
        """
        flat = torch.cat([g.reshape(-1) for g in grids])
        floor = current_log_scale_floor()
        if (
            native
            and len(self.hidden) == 2
            and len(grids) <= MAX_LEVELS
            and fits(N_CONTEXT, self.hidden[0].out_features, 2, *grids, *self.parameters())
        ):
            params = [t for lin in self.linears() for t in (lin.weight, lin.bias)]
            return ArmRateGrids.apply(
                flat, [tuple(g.shape) for g in grids], floor, LOG_SCALE_MAX, *params
            )
        mu, log_scale = self.forward_grids(grids)
        return laplace_bits(flat, mu, log_scale.clamp_min(floor)).sum()
