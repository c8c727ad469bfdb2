"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioners (Vyas et al., 2024).

For a weight matrix ``W`` [m, n] with gradient ``G``, Shampoo keeps ``L = E[G G^T]`` and
``R = E[G^T G]``; SOAP rotates ``G`` into their eigenbases (``QL^T G QR``), runs Adam's
second-moment scaling there and rotates the update back. The first moment is kept in the
original coordinates (rotated exactly at each step); when the bases are renewed, the second
moments are carried over to the new basis with the squared rotation between the two (without
that, stale variances in directions that changed made the updates blow up). The first bases
are computed after ``precondition_every`` steps of plain Adam: from a single gradient, every
direction but one is numerical noise, which Adam's normalisation would turn into full steps.

The decoder's layers are small (at most 40 x 40 statistics), so the eigendecompositions,
redone every ``precondition_every`` steps, cost nothing next to a training step. Parameters
that are not matrices (biases, the upsampling taps) get plain Adam. Convolution kernels are
treated as [out, in * kh * kw].

Cool-chic 5 trains its networks with SOAP, and so does :func:`lnic.encoder.train.fit`: on full
images it beats Adam at the same learning rate (``benchmarks/training_notes.md``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class Soap(torch.optim.Optimizer):
    """SOAP with Adam moments; ``lr`` and ``betas`` as in Adam, ``shampoo_beta`` for L and R."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        shampoo_beta: float = 0.95,
        precondition_every: int = 10,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=betas,
                eps=eps,
                shampoo_beta=shampoo_beta,
                precondition_every=precondition_every,
            ),
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One update of every parameter with a gradient; ``closure`` (torch's optimizer
        interface) re-evaluates the loss first and its value is returned."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                g = p.grad.reshape(p.shape[0], -1) if p.dim() >= 2 else p.grad
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(g)
                    state["v"] = torch.zeros_like(g)
                    if g.dim() == 2:
                        state["L"] = torch.zeros(g.shape[0], g.shape[0])
                        state["R"] = torch.zeros(g.shape[1], g.shape[1])
                        state["QL"] = torch.eye(g.shape[0])
                        state["QR"] = torch.eye(g.shape[1])
                state["step"] += 1
                t = state["step"]
                m, v = state["m"], state["v"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                if g.dim() == 2:
                    sb = group["shampoo_beta"]
                    state["L"].mul_(sb).add_(g @ g.T, alpha=1 - sb)
                    state["R"].mul_(sb).add_(g.T @ g, alpha=1 - sb)
                    if t % group["precondition_every"] == 0:  # (plain Adam until then)
                        ql, qr = _eigenbasis(state["L"]), _eigenbasis(state["R"])
                        # carry the second moments over to the new basis (each new direction
                        # mixes the old ones with weights cos^2: the scale is kept)
                        a = (ql.T @ state["QL"]) ** 2
                        b = (state["QR"].T @ qr) ** 2
                        v.copy_(a @ v @ b)
                        state["QL"], state["QR"] = ql, qr
                    ql, qr = state["QL"], state["QR"]
                    g_rot = ql.T @ g @ qr
                    v.mul_(beta2).addcmul_(g_rot, g_rot, value=1 - beta2)
                    m_rot = ql.T @ m @ qr
                    update = ql @ (m_rot / (v / (1 - beta2**t)).sqrt().add_(group["eps"])) @ qr.T
                else:
                    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    update = m / (v / (1 - beta2**t)).sqrt().add_(group["eps"])
                p.add_(update.reshape(p.shape), alpha=-group["lr"] / (1 - beta1**t))
        return loss


def _eigenbasis(stat: torch.Tensor) -> torch.Tensor:
    """Eigenvectors of a symmetric statistic (float64 for stability), as float32 columns."""
    _, vectors = torch.linalg.eigh(stat.double() + 1e-30 * torch.eye(stat.shape[0]))
    return vectors.float()
