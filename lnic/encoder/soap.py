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

Cool-chic 5 trains its networks with SOAP, and so does :func:`lnic.encoder.fitting.fit`: on full
images it beats Adam at the same learning rate (``benchmarks/training_notes.md``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from lnic.encoder.param_groups import ParamGroups


class Soap(ParamGroups):
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
        """One update of every parameter with a gradient; ``closure`` (as in torch's optimizer
        interface) re-evaluates the loss first and its value is returned.

        The arithmetic runs in numpy on views of the gradients, with numpy state: the
        networks' matrices are tiny, so a step is ~200 small operations whose per-call cost
        (~1 us in numpy, 5-10 us in torch) was most of its time (3.4 ms per training step with
        torch, 5% of a two-thread step on a 2-core CPU)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                g = p.grad.numpy()
                if g.ndim >= 2:
                    g = g.reshape(g.shape[0], -1)
                if not state:
                    state["step"] = 0
                    state["m"] = np.zeros_like(g)
                    state["v"] = np.zeros_like(g)
                    if g.ndim == 2:
                        state["L"] = np.zeros((g.shape[0], g.shape[0]), np.float32)
                        state["R"] = np.zeros((g.shape[1], g.shape[1]), np.float32)
                        state["QL"] = np.eye(g.shape[0], dtype=np.float32)
                        state["QR"] = np.eye(g.shape[1], dtype=np.float32)
                state["step"] += 1
                t = state["step"]
                m, v = state["m"], state["v"]
                m *= beta1
                m += (1 - beta1) * g
                if g.ndim == 2:
                    sb = group["shampoo_beta"]
                    state["L"] *= sb
                    state["L"] += (1 - sb) * (g @ g.T)
                    state["R"] *= sb
                    state["R"] += (1 - sb) * (g.T @ g)
                    if t % group["precondition_every"] == 0:  # (plain Adam until then)
                        ql, qr = _eigenbasis(state["L"]), _eigenbasis(state["R"])
                        # carry the second moments over to the new basis (each new direction
                        # mixes the old ones with weights cos^2: the scale is kept)
                        a = (ql.T @ state["QL"]) ** 2
                        b = (state["QR"].T @ qr) ** 2
                        v[...] = a @ v @ b
                        state["QL"], state["QR"] = ql, qr
                    ql, qr = state["QL"], state["QR"]
                    g_rot = ql.T @ g @ qr
                    v *= beta2
                    v += (1 - beta2) * g_rot * g_rot
                    m_rot = ql.T @ m @ qr
                    update = ql @ (m_rot / (np.sqrt(v / (1 - beta2**t)) + eps)) @ qr.T
                else:
                    v *= beta2
                    v += (1 - beta2) * g * g
                    update = m / (np.sqrt(v / (1 - beta2**t)) + eps)
                p.add_(
                    torch.from_numpy(update.reshape(p.shape)),
                    alpha=-group["lr"] / (1 - beta1**t),
                )
        return loss


def _eigenbasis(stat: np.ndarray) -> np.ndarray:
    """Eigenvectors of a symmetric statistic (float64 for stability), as float32 columns."""
    _, vectors = np.linalg.eigh(stat.astype(np.float64) + 1e-30 * np.eye(stat.shape[0]))
    return vectors.astype(np.float32)
