"""Autograd functions of the ARM's kernels: context gathering, and the ARM with its Laplace rate
(the values and gradients of :class:`lnic.encoder.nets.arm.Arm` and
:class:`lnic.encoder.nets.arm.CausalContext`)."""

from __future__ import annotations

import torch

from lnic.encoder.native.limits import NCHUNK
from lnic.encoder.native.ops import (
    call_kernel,
    pack_params,
    run_kernel,
    unpack_params,
    weight_sampling,
)
from lnic.format import ARM_CONTEXT

_CONTEXT_OFFSETS = torch.tensor([d for o in ARM_CONTEXT for d in o], dtype=torch.int32)
"""ARM_CONTEXT as the flat (dy, dx) int32 array the context kernels take."""


class ArmRate(torch.autograd.Function):
    """Total bits of ``x`` [N] under the ARM's Laplace given the context [N_CONTEXT, N].

    ``ArmRate.apply(context, x, log_scale_min, log_scale_max, w1, b1, w2, b2, w3, b3)`` equals
    ``laplace_bits(x, mu, log_scale).sum()`` with ``mu, log_scale`` from
    :meth:`lnic.encoder.nets.arm.Arm.forward_grids` (two hidden layers).
    """

    @staticmethod
    def forward(ctx, context, x, ls_min, ls_max, *params):  # type: ignore[override]
        context, x = context.contiguous(), x.contiguous()
        k, n = context.shape
        hidden = params[0].shape[0]
        packed = pack_params(params)
        chunks = torch.empty(NCHUNK, dtype=torch.float64)
        run_kernel("arm_rate_forward", context, x, n, k, hidden, packed, ls_min, ls_max, chunks)
        ctx.save_for_backward(context, x, packed)
        ctx.meta = (ls_min, ls_max, hidden, [p.shape for p in params])
        return chunks.sum().to(torch.float32)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        context, x, packed = ctx.saved_tensors
        ls_min, ls_max, hidden, shapes = ctx.meta
        k, n = context.shape
        g_context = torch.empty_like(context)
        g_x = torch.empty_like(x)
        chunks = torch.empty(NCHUNK, packed.numel())
        run_kernel(
            "arm_rate_backward",
            context,
            x,
            n,
            k,
            hidden,
            packed,
            ls_min,
            ls_max,
            float(grad),
            g_context,
            g_x,
            chunks,
            None,
            *weight_sampling(),
        )
        return (g_context, g_x, None, None, *unpack_params(chunks.sum(0), shapes))


class ArmRateGrids(torch.autograd.Function):
    """:class:`ArmRate` of the grids' own causal contexts, without materialising them.

    ``ArmRateGrids.apply(flat, shapes, log_scale_min, log_scale_max, w1, b1, w2, b2, w3, b3)``
    equals ``ArmRate.apply(CausalContextFlat.apply(flat, shapes), flat, ...)``: the kernel
    gathers each block's context from the grids (``flat``: the grids concatenated, finest
    first) into a cache-resident buffer, so the [N_CONTEXT, N] context is neither written nor
    read back.

    The output is a scalar, so its gradients are those of ``bits`` times one number: where a
    gradient will be asked for, the forward computes ``bits`` and its gradients in one pass of
    the backward kernel (which evaluates the ARM anyway) and the backward only scales them, so
    a training step runs the ARM's forward once instead of twice. That pass scatters each
    block's context gradient straight onto the grids (``arm_rate_grids_backward_fused``: even
    chunks, then odd ones, so the sums do not depend on the thread count); where the chunks are
    too short for that (small or very wide images) it writes the context's gradient once and
    gathers it with ``context_backward``.
    """

    @staticmethod
    def forward(ctx, flat, shapes, ls_min, ls_max, *params):  # type: ignore[override]
        flat = flat.contiguous()
        dims = torch.tensor([d for s in shapes for d in s], dtype=torch.int64)
        hidden = params[0].shape[0]
        packed = pack_params(params)
        bits = torch.empty(NCHUNK, dtype=torch.float64)
        args = (flat, dims, len(shapes), _CONTEXT_OFFSETS, len(ARM_CONTEXT), flat.numel(), hidden)
        if not any(ctx.needs_input_grad):
            run_kernel("arm_rate_grids_forward", *args, packed, ls_min, ls_max, bits)
            return bits.sum().to(torch.float32)
        g_flat, g_params = _bits_and_gradients(args, packed, ls_min, ls_max, bits)
        ctx.save_for_backward(g_flat, g_params)
        ctx.shapes = [p.shape for p in params]
        return bits.sum().to(torch.float32)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        g_flat, g_params = ctx.saved_tensors
        return (g_flat * grad, None, None, None, *unpack_params(g_params * grad, ctx.shapes))


def _bits_and_gradients(
    args: tuple, packed: torch.Tensor, ls_min: float, ls_max: float, bits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of the ARM's backward kernel at gradient 1: ``bits`` [NCHUNK] gets each chunk's
    bits; returns d bits / d flat and d bits / d packed parameters."""
    flat = args[0]
    n = flat.numel()
    chunks = torch.empty(NCHUNK, packed.numel())
    g_flat = torch.empty_like(flat)
    common = (*args, packed, ls_min, ls_max, 1.0)
    sampling = weight_sampling()
    if call_kernel(
        "arm_rate_grids_backward_fused",
        *common,
        g_flat,
        torch.empty_like(flat),
        chunks,
        bits,
        *sampling,
    ):
        return g_flat, chunks.sum(0)
    dims, levels = args[1], args[2]
    g_context = flat.new_empty(len(ARM_CONTEXT) + 1, n)
    g_x = torch.empty_like(flat)
    run_kernel("arm_rate_grids_backward", *common, g_context, g_x, chunks, bits, *sampling)
    run_kernel(
        "context_backward", g_context, dims, levels, _CONTEXT_OFFSETS, len(ARM_CONTEXT), g_flat, n
    )
    return g_flat.add_(g_x), chunks.sum(0)


class CausalContextFlat(torch.autograd.Function):
    """:class:`lnic.encoder.nets.arm.CausalContext` on the grids concatenated (finest first):
    ``CausalContextFlat.apply(flat, shapes)`` -> [N_CONTEXT, N]."""

    @staticmethod
    def forward(ctx, flat, shapes):  # type: ignore[override]
        flat = flat.contiguous()
        dims = torch.tensor([d for s in shapes for d in s], dtype=torch.int64)
        out = flat.new_empty(len(ARM_CONTEXT) + 1, flat.numel())
        run_kernel(
            "context_forward",
            flat,
            dims,
            len(shapes),
            _CONTEXT_OFFSETS,
            len(ARM_CONTEXT),
            out,
            flat.numel(),
        )
        ctx.meta = (dims, len(shapes))
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        dims, levels = ctx.meta
        grad = grad.contiguous()
        g_flat = grad.new_empty(grad.shape[1])
        run_kernel(
            "context_backward",
            grad,
            dims,
            levels,
            _CONTEXT_OFFSETS,
            len(ARM_CONTEXT),
            g_flat,
            g_flat.numel(),
        )
        return g_flat, None
