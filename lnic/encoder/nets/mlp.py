"""A per-sample MLP on channels-first data, with a hand-written backward pass.

Both per-sample networks of the decoder are tiny MLPs run over hundreds of thousands of samples:
the synthesis (7 -> 40 -> 3 per pixel) and the ARM (13 -> 16 -> 16 -> 2 per latent). Laid out
channels-first ([features, N]), every product runs along the long sample axis and no transposed
copies are made; the backward pass keeps only the ReLU outputs (their sign is the mask) and masks
with ``threshold_backward`` instead of a float copy of a boolean mask: both cut the memory
traffic that bounds these small products (benchmarks/encode_speed.md has the timings).
"""

from __future__ import annotations

import torch


class ChannelsFirstMlp(torch.autograd.Function):
    """``W_L @ relu(... relu(W_1 @ x + b_1) ...) + b_L`` on ``x`` [in, N] -> [out, N].

    Called as ``ChannelsFirstMlp.apply(x, w1, b1, w2, b2, ...)`` with ``nn.Linear``-shaped
    weights ([out, in]) and biases ([out]); every layer but the last is followed by a ReLU.
    """

    @staticmethod
    def forward(ctx, x, *params):  # type: ignore[override]
        weights, biases = params[0::2], params[1::2]
        hidden = []
        h = x
        for w, b in zip(weights[:-1], biases[:-1]):
            h = torch.addmm(b[:, None], w, h).clamp_min_(0.0)
            hidden.append(h)
        out = torch.addmm(biases[-1][:, None], weights[-1], h)
        ctx.save_for_backward(x, *weights, *hidden)
        ctx.n_layers = len(weights)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        saved = ctx.saved_tensors
        n = ctx.n_layers
        x, weights, hidden = saved[0], saved[1 : n + 1], saved[n + 1 :]
        inputs = [x, *hidden]
        grad = grad.contiguous()
        grads: list[torch.Tensor | None] = [None] * (2 * n)
        for i in range(n - 1, -1, -1):
            grads[2 * i] = grad @ inputs[i].T
            grads[2 * i + 1] = grad.sum(1)
            if i == 0 and not ctx.needs_input_grad[0]:
                return (None, *grads)
            grad = torch.mm(weights[i].t().contiguous(), grad)
            if i > 0:
                grad = torch.ops.aten.threshold_backward(grad, hidden[i - 1], 0.0)
        return (grad, *grads)


def mlp_channels_first(x: torch.Tensor, linears: list[torch.nn.Linear]) -> torch.Tensor:
    """Apply ``linears`` (ReLU between them) to channels-first ``x`` [in, N] -> [out, N]."""
    params = [t for lin in linears for t in (lin.weight, lin.bias)]
    return ChannelsFirstMlp.apply(x, *params)
