"""Autograd functions of the upsampling's kernels: the latent pre-filter, the x2 steps and the
whole pyramid (the values and gradients of :class:`lnic.encoder.nets.upsampling.Upsampler`)."""

from __future__ import annotations

import torch

from lnic.encoder.native.limits import NCHUNK
from lnic.encoder.native.ops import run_kernel


def _taps_backward(kernel: str, ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(input gradient, taps gradient) of a filter along one axis (:class:`UpAxis`,
    :class:`PreAxis`): the kernel sums the taps' gradient over NCHUNK fixed chunks."""
    x, t = ctx.saved_tensors
    g_x = torch.empty_like(x)
    chunks = x.new_empty(NCHUNK, 4)
    run_kernel(kernel, x, *ctx.dims, t, grad.contiguous(), g_x, chunks)
    return g_x, chunks.sum(0)


class UpAxis(torch.autograd.Function):
    """:func:`lnic.encoder.nets.upsampling.up_axis_torch`: x2 along ``axis`` (1: rows, 2: columns)
    of [C, h, w], keeping ``size`` samples. ``UpAxis.apply(x, taps, axis, size)``, taps [4]."""

    @staticmethod
    def forward(ctx, x, taps, axis, size):  # type: ignore[override]
        x = x.contiguous()
        c, h, w = x.shape
        outer, n, inner = (c * h, w, 1) if axis == 2 else (c, h, w)
        shape = (c, h, size) if axis == 2 else (c, size, w)
        out = x.new_empty(shape)
        t = taps.detach().contiguous()
        run_kernel("up_forward", x, outer, n, inner, size, t, out)
        ctx.save_for_backward(x, t)
        ctx.dims = (outer, n, inner, size)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return (*_taps_backward("up_backward", ctx, grad), None, None)


class PreAxis(torch.autograd.Function):
    """:func:`lnic.encoder.nets.upsampling.pre_axis_torch`: the latent pre-filter along ``axis``
    (0: rows, 1: columns) of a grid [h, w]. ``PreAxis.apply(x, taps, axis)``, taps [4]."""

    @staticmethod
    def forward(ctx, x, taps, axis):  # type: ignore[override]
        x = x.contiguous()
        h, w = x.shape
        outer, n, inner = (h, w, 1) if axis == 1 else (1, h, w)
        out = torch.empty_like(x)
        t = taps.detach().contiguous()
        run_kernel("pre_forward", x, outer, n, inner, t, out)
        ctx.save_for_backward(x, t)
        ctx.dims = (outer, n, inner)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return (*_taps_backward("pre_backward", ctx, grad), None)


class UpsamplePyramid(torch.autograd.Function):
    """The whole :class:`lnic.encoder.nets.upsampling.Upsampler` in one autograd node:
    ``UpsamplePyramid.apply(taps, pre, *grids)`` -> [levels, H, W] (grids finest first).

    The same kernels in the same order as :class:`PreAxis` and :class:`UpAxis` level by level,
    so the same values and gradients bit for bit; what goes is autograd's bookkeeping of ~60
    small nodes per step (the 26 filter passes, the taps' row selections, the concatenations),
    and the concatenations' copies: each level's output buffer is written in place.
    """

    @staticmethod
    def forward(ctx, taps, pre, *grids):  # type: ignore[override]
        t, p = taps.detach().contiguous(), pre.detach().contiguous()
        levels = len(grids)
        pre_in, bufs = [], []
        for k in range(levels - 1, -1, -1):
            g = grids[k].detach().contiguous()
            h, w = g.shape
            buf = g.new_empty(levels - k, h, w)
            cols = torch.empty_like(g)
            run_kernel("pre_forward", g, h, w, 1, p[k], cols)
            run_kernel("pre_forward", cols, 1, h, w, p[k], buf[0])
            pre_in.append((g, cols))
            if bufs:
                x = bufs[-1]
                c, hx, wx = x.shape
                mid = x.new_empty(c, hx, w)
                run_kernel("up_forward", x, c * hx, wx, 1, w, t[k], mid)
                run_kernel("up_forward", mid, c, hx, w, h, t[k], buf[1:])
                bufs[-1] = (x, mid)
            bufs.append(buf)
        out = bufs.pop()
        ctx.pre_in = pre_in[::-1]  # finest first
        ctx.up_in = bufs[::-1]  # level k: (input of the column pass, input of the row pass)
        ctx.save_for_backward(t, p)
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        t, p = ctx.saved_tensors
        levels = len(ctx.pre_in)
        g_taps, g_pre = torch.zeros_like(t), torch.zeros_like(p)
        g = grad.contiguous()
        g_filtered = []
        for k in range(levels - 1):
            x, mid = ctx.up_in[k]
            h, w = ctx.pre_in[k][0].shape
            c, hx, wx = x.shape
            g_filtered.append(g[0])
            g_mid, rows = torch.empty_like(mid), x.new_empty(NCHUNK, 4)
            run_kernel("up_backward", mid, c, hx, w, h, t[k], g[1:].contiguous(), g_mid, rows)
            g_x, cols = torch.empty_like(x), x.new_empty(NCHUNK, 4)
            run_kernel("up_backward", x, c * hx, wx, 1, w, t[k], g_mid, g_x, cols)
            g_taps[k] = rows.sum(0) + cols.sum(0)
            g = g_x
        g_filtered.append(g[0])
        g_grids = []
        for k, (g_in, cols_in) in enumerate(ctx.pre_in):
            h, w = g_in.shape
            g_cols, rows = torch.empty_like(g_in), g_in.new_empty(NCHUNK, 4)
            run_kernel(
                "pre_backward", cols_in, 1, h, w, p[k], g_filtered[k].contiguous(), g_cols, rows
            )
            g_g, cols = torch.empty_like(g_in), g_in.new_empty(NCHUNK, 4)
            run_kernel("pre_backward", g_in, h, w, 1, p[k], g_cols, g_g, cols)
            g_pre[k] = rows.sum(0) + cols.sum(0)
            g_grids.append(g_g)
        del ctx.pre_in, ctx.up_in
        return (g_taps, g_pre, *g_grids)
