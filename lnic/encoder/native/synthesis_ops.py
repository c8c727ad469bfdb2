"""Autograd functions of the synthesis' kernels: the per-pixel MLP and the residual 3x3
convolutions (the values and gradients of :class:`lnic.encoder.nets.synthesis.Synthesis`)."""

from __future__ import annotations

import torch

from lnic.encoder.native.limits import NCHUNK
from lnic.encoder.native.ops import pack_params, run_kernel, unpack_params, weight_sampling


class Mlp2(torch.autograd.Function):
    """``w2 @ relu(w1 @ x + b1) + b2`` on channels-first ``x`` [K, N] -> [C, N]."""

    @staticmethod
    def forward(ctx, x, *params):  # type: ignore[override]
        x = x.contiguous()
        k, n = x.shape
        hidden, c = params[0].shape[0], params[2].shape[0]
        packed = pack_params(params)
        out = x.new_empty(c, n)
        run_kernel("mlp2_forward", x, n, k, hidden, c, packed, out)
        ctx.save_for_backward(x, packed)
        ctx.dims = (hidden, c, [p.shape for p in params])
        ctx.sampling = weight_sampling()
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, packed = ctx.saved_tensors
        hidden, c, shapes = ctx.dims
        k, n = x.shape
        grad = grad.contiguous()
        g_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        chunks = torch.empty(NCHUNK, packed.numel())
        run_kernel("mlp2_backward", x, n, k, hidden, c, packed, grad, g_x, chunks, *ctx.sampling)
        return (g_x, *unpack_params(chunks.sum(0), shapes))


class ResidualConv3x3(torch.autograd.Function):
    """``y + conv3x3(act(y))`` on [C, H, W] with replicated borders; ``act`` is ReLU if ``relu``.

    ``ResidualConv3x3.apply(y, weight, bias, relu)`` with ``weight`` [C, C, 3, 3], ``bias`` [C].
    """

    @staticmethod
    def forward(ctx, y, weight, bias, relu):  # type: ignore[override]
        y = y.contiguous()
        c, h, w = y.shape
        out = torch.empty_like(y)
        run_kernel(
            "resconv_forward",
            y,
            h,
            w,
            c,
            weight.detach().contiguous(),
            bias.detach().contiguous(),
            int(relu),
            out,
        )
        ctx.save_for_backward(y, weight)
        ctx.relu = relu
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        y, weight = ctx.saved_tensors
        c, h, w = y.shape
        grad = grad.contiguous()
        g_y = torch.empty_like(y)
        chunks = y.new_empty(NCHUNK, c * c * 9 + c)
        run_kernel(
            "resconv_backward",
            y,
            h,
            w,
            c,
            weight.detach().contiguous(),
            int(ctx.relu),
            grad,
            g_y,
            chunks,
        )
        total = chunks.sum(0)
        return g_y, total[: c * c * 9].view_as(weight), total[c * c * 9 :], None
