"""Autograd functions over the native kernels (same values and gradients as the torch code)."""

from __future__ import annotations

import ctypes

import torch

from lnic.encoder.native import library

NCHUNK = 64
"""Chunks of the weight-gradient sums (``NCHUNK`` in kernels.c)."""
MAX_HIDDEN = 64
"""Widest hidden layer the kernels take (``MAXH`` in kernels.c)."""
MAX_IN = 32
"""Most input (and synthesis output) features the kernels take (``MAXK`` in kernels.c)."""


def _ptr(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def _pack(params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params]).contiguous()


def _unpack(flat: torch.Tensor, like: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    out, off = [], 0
    for p in like:
        out.append(flat[off : off + p.numel()].view_as(p))
        off += p.numel()
    return out


class ArmRate(torch.autograd.Function):
    """Total bits of ``x`` [N] under the ARM's Laplace given the context [N_CONTEXT, N].

    ``ArmRate.apply(context, x, log_scale_min, log_scale_max, w1, b1, w2, b2, w3, b3)`` equals
    ``laplace_bits(x, mu, log_scale).sum()`` with ``mu, log_scale`` from
    :meth:`lnic.encoder.nets.arm.Arm.forward_grids` (two hidden layers).
    """

    @staticmethod
    def forward(ctx, context, x, ls_min, ls_max, *params):  # type: ignore[override]
        lib = library()
        context, x = context.contiguous(), x.contiguous()
        k, n = context.shape
        hidden = params[0].shape[0]
        packed = _pack(params)
        chunks = torch.empty(NCHUNK, dtype=torch.float64)
        lib.arm_rate_forward(_ptr(context), _ptr(x), n, k, hidden, _ptr(packed), ls_min, ls_max,
                             _ptr(chunks), torch.get_num_threads())
        ctx.save_for_backward(context, x, packed)
        ctx.meta = (ls_min, ls_max, params)
        return chunks.sum().to(torch.float32)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        lib = library()
        context, x, packed = ctx.saved_tensors
        ls_min, ls_max, params = ctx.meta
        k, n = context.shape
        g_context = torch.empty_like(context)
        g_x = torch.empty_like(x)
        chunks = torch.empty(NCHUNK, packed.numel())
        lib.arm_rate_backward(_ptr(context), _ptr(x), n, k, params[0].shape[0], _ptr(packed),
                              ls_min, ls_max, float(grad), _ptr(g_context), _ptr(g_x),
                              _ptr(chunks), torch.get_num_threads())
        return (g_context, g_x, None, None, *_unpack(chunks.sum(0), params))


class Mlp2(torch.autograd.Function):
    """``w2 @ relu(w1 @ x + b1) + b2`` on channels-first ``x`` [K, N] -> [C, N]."""

    @staticmethod
    def forward(ctx, x, *params):  # type: ignore[override]
        lib = library()
        x = x.contiguous()
        k, n = x.shape
        hidden, c = params[0].shape[0], params[2].shape[0]
        packed = _pack(params)
        out = x.new_empty(c, n)
        lib.mlp2_forward(_ptr(x), n, k, hidden, c, _ptr(packed), _ptr(out),
                         torch.get_num_threads())
        ctx.save_for_backward(x, packed)
        ctx.params = params
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        lib = library()
        x, packed = ctx.saved_tensors
        params = ctx.params
        k, n = x.shape
        grad = grad.contiguous()
        g_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        chunks = torch.empty(NCHUNK, packed.numel())
        lib.mlp2_backward(_ptr(x), n, k, params[0].shape[0], params[2].shape[0], _ptr(packed),
                          _ptr(grad), None if g_x is None else _ptr(g_x), _ptr(chunks),
                          torch.get_num_threads())
        return (g_x, *_unpack(chunks.sum(0), params))


def fits(n_in: int, hidden: int, n_out: int) -> bool:
    """Whether the kernels take a network of these sizes (and are available)."""
    return (library() is not None and n_in <= MAX_IN and n_out <= MAX_IN
            and hidden <= MAX_HIDDEN)
