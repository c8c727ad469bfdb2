"""Autograd functions over the native kernels (same values and gradients as the torch code)."""

from __future__ import annotations

import ctypes

import torch

from lnic.encoder.native import library
from lnic.format import ARM_CONTEXT

NCHUNK = 64
"""Chunks of the weight-gradient sums (``NCHUNK`` in kernels.c)."""
MAX_HIDDEN = 64
"""Widest hidden layer the kernels take (``MAXH`` in kernels.c)."""
MAX_IN = 32
"""Most input (and synthesis output) features the kernels take (``MAXK`` in kernels.c)."""


_CONTEXT_OFFSETS = torch.tensor([d for o in ARM_CONTEXT for d in o], dtype=torch.int32)
"""ARM_CONTEXT as the flat (dy, dx) int32 array the context kernels take."""


def _ptr(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def _call(kernel: str, *args) -> int | None:
    """Call ``kernel`` of the library: tensors go as data pointers (``None`` as NULL), numbers as
    they are, and the process's thread count is appended (every kernel's last argument)."""
    return getattr(library(), kernel)(
        *(_ptr(a) if isinstance(a, torch.Tensor) else a for a in args), torch.get_num_threads()
    )


def _run(kernel: str, *args) -> None:
    """:func:`_call` for the kernels that return nothing."""
    _call(kernel, *args)


def _pack(params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params]).contiguous()


def _unpack(flat: torch.Tensor, shapes: list[torch.Size]) -> list[torch.Tensor]:
    out, off = [], 0
    for shape in shapes:
        n = shape.numel()
        out.append(flat[off : off + n].view(shape))
        off += n
    return out


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
        packed = _pack(params)
        chunks = torch.empty(NCHUNK, dtype=torch.float64)
        _run("arm_rate_forward", context, x, n, k, hidden, packed, ls_min, ls_max, chunks)
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
        _run(
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
        )
        return (g_context, g_x, None, None, *_unpack(chunks.sum(0), shapes))


MAX_LEVELS = 16
"""Most latent grids :class:`ArmRateGrids` takes (``MAXL`` in kernels.c)."""


class ArmRateGrids(torch.autograd.Function):
    """:class:`ArmRate` of the grids' own causal contexts, without materialising them.

    ``ArmRateGrids.apply(flat, shapes, log_scale_min, log_scale_max, w1, b1, w2, b2, w3, b3)``
    equals ``ArmRate.apply(CausalContextFlat.apply(flat, shapes), flat, ...)``: the kernel
    gathers each block's context from the grids (``flat``: the grids concatenated, finest
    first) into a cache-resident buffer, so the [N_CONTEXT, N] context is neither written nor
    read back in the forward pass. The backward scatters each block's context gradient straight
    onto the grids (``arm_rate_grids_backward_fused``: even chunks, then odd ones, so the sums
    do not depend on the thread count); where the chunks are too short for that (small or very
    wide images) it writes the context's gradient once and gathers it with ``context_backward``.
    """

    @staticmethod
    def forward(ctx, flat, shapes, ls_min, ls_max, *params):  # type: ignore[override]
        flat = flat.contiguous()
        dims = torch.tensor([d for s in shapes for d in s], dtype=torch.int64)
        hidden = params[0].shape[0]
        packed = _pack(params)
        chunks = torch.empty(NCHUNK, dtype=torch.float64)
        _run(
            "arm_rate_grids_forward",
            flat,
            dims,
            len(shapes),
            _CONTEXT_OFFSETS,
            len(ARM_CONTEXT),
            flat.numel(),
            hidden,
            packed,
            ls_min,
            ls_max,
            chunks,
        )
        ctx.save_for_backward(flat, packed)
        ctx.meta = (dims, len(shapes), ls_min, ls_max, hidden, [p.shape for p in params])
        return chunks.sum().to(torch.float32)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        flat, packed = ctx.saved_tensors
        dims, levels, ls_min, ls_max, hidden, shapes = ctx.meta
        n = flat.numel()
        chunks = torch.empty(NCHUNK, packed.numel())
        g_flat = torch.empty_like(flat)
        args = (
            flat,
            dims,
            levels,
            _CONTEXT_OFFSETS,
            len(ARM_CONTEXT),
            n,
            hidden,
            packed,
            ls_min,
            ls_max,
            float(grad),
        )
        if _call("arm_rate_grids_backward_fused", *args, g_flat, torch.empty_like(flat), chunks):
            return (g_flat, None, None, None, *_unpack(chunks.sum(0), shapes))
        g_context = flat.new_empty(len(ARM_CONTEXT) + 1, n)
        g_x = torch.empty_like(flat)
        _run("arm_rate_grids_backward", *args, g_context, g_x, chunks)
        _run(
            "context_backward",
            g_context,
            dims,
            levels,
            _CONTEXT_OFFSETS,
            len(ARM_CONTEXT),
            g_flat,
            n,
        )
        return (g_flat.add_(g_x), None, None, None, *_unpack(chunks.sum(0), shapes))


class Mlp2(torch.autograd.Function):
    """``w2 @ relu(w1 @ x + b1) + b2`` on channels-first ``x`` [K, N] -> [C, N]."""

    @staticmethod
    def forward(ctx, x, *params):  # type: ignore[override]
        x = x.contiguous()
        k, n = x.shape
        hidden, c = params[0].shape[0], params[2].shape[0]
        packed = _pack(params)
        out = x.new_empty(c, n)
        _run("mlp2_forward", x, n, k, hidden, c, packed, out)
        ctx.save_for_backward(x, packed)
        ctx.dims = (hidden, c, [p.shape for p in params])
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        x, packed = ctx.saved_tensors
        hidden, c, shapes = ctx.dims
        k, n = x.shape
        grad = grad.contiguous()
        g_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        chunks = torch.empty(NCHUNK, packed.numel())
        _run("mlp2_backward", x, n, k, hidden, c, packed, grad, g_x, chunks)
        return (g_x, *_unpack(chunks.sum(0), shapes))


class ResidualConv3x3(torch.autograd.Function):
    """``y + conv3x3(act(y))`` on [C, H, W] with replicated borders; ``act`` is ReLU if ``relu``.

    ``ResidualConv3x3.apply(y, weight, bias, relu)`` with ``weight`` [C, C, 3, 3], ``bias`` [C].
    """

    @staticmethod
    def forward(ctx, y, weight, bias, relu):  # type: ignore[override]
        y = y.contiguous()
        c, h, w = y.shape
        out = torch.empty_like(y)
        _run(
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
        pad = y.new_empty(c, h + 2, w + 2)
        chunks = y.new_empty(NCHUNK, c * c * 9 + c)
        _run(
            "resconv_backward",
            y,
            h,
            w,
            c,
            weight.detach().contiguous(),
            int(ctx.relu),
            grad,
            g_y,
            pad,
            chunks,
        )
        total = chunks.sum(0)
        return g_y, total[: c * c * 9].view_as(weight), total[c * c * 9 :], None


def _taps_backward(kernel: str, ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(input gradient, taps gradient) of a filter along one axis (:class:`UpAxis`,
    :class:`PreAxis`): the kernel sums the taps' gradient over NCHUNK fixed chunks."""
    x, t = ctx.saved_tensors
    g_x = torch.empty_like(x)
    chunks = x.new_empty(NCHUNK, 4)
    _run(kernel, x, *ctx.dims, t, grad.contiguous(), g_x, chunks)
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
        _run("up_forward", x, outer, n, inner, size, t, out)
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
        _run("pre_forward", x, outer, n, inner, t, out)
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
            _run("pre_forward", g, h, w, 1, p[k], cols)
            _run("pre_forward", cols, 1, h, w, p[k], buf[0])
            pre_in.append((g, cols))
            if bufs:
                x = bufs[-1]
                c, hx, wx = x.shape
                mid = x.new_empty(c, hx, w)
                _run("up_forward", x, c * hx, wx, 1, w, t[k], mid)
                _run("up_forward", mid, c, hx, w, h, t[k], buf[1:])
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
            _run("up_backward", mid, c, hx, w, h, t[k], g[1:].contiguous(), g_mid, rows)
            g_x, cols = torch.empty_like(x), x.new_empty(NCHUNK, 4)
            _run("up_backward", x, c * hx, wx, 1, w, t[k], g_mid, g_x, cols)
            g_taps[k] = rows.sum(0) + cols.sum(0)
            g = g_x
        g_filtered.append(g[0])
        g_grids = []
        for k, (g_in, cols_in) in enumerate(ctx.pre_in):
            h, w = g_in.shape
            g_cols, rows = torch.empty_like(g_in), g_in.new_empty(NCHUNK, 4)
            _run("pre_backward", cols_in, 1, h, w, p[k], g_filtered[k].contiguous(), g_cols, rows)
            g_g, cols = torch.empty_like(g_in), g_in.new_empty(NCHUNK, 4)
            _run("pre_backward", g_in, h, w, 1, p[k], g_cols, g_g, cols)
            g_pre[k] = rows.sum(0) + cols.sum(0)
            g_grids.append(g_g)
        del ctx.pre_in, ctx.up_in
        return (g_taps, g_pre, *g_grids)


def gaussian_noise(like: torch.Tensor, std: float) -> torch.Tensor:
    """``std * torch.randn_like(like)`` in distribution, in one native pass (``gauss_fill``).

    The values are a function of one 62-bit seed drawn from torch's generator (so
    ``torch.manual_seed`` still fixes them) and of each element's index, not of the threads.
    """
    out = torch.empty_like(like)
    seed = int(torch.randint(0, 2**62, (1,)).item())
    _run("gauss_fill", out, out.numel(), seed, float(std))
    return out


class SoftRoundNoise(torch.autograd.Function):
    """``soft_round(soft_round(g, T) + noise, T)`` (:func:`lnic.encoder.train.soft_round`).

    ``SoftRoundNoise.apply(g, noise, temperature)`` with ``temperature`` a float.
    """

    @staticmethod
    def forward(ctx, g, noise, temperature):  # type: ignore[override]
        g, noise = g.contiguous(), noise.contiguous()
        out = torch.empty_like(g)
        _run("proxy_forward", g, noise, g.numel(), temperature, out)
        ctx.save_for_backward(g, noise)
        ctx.temperature = temperature
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        g, noise = ctx.saved_tensors
        grad = grad.contiguous()
        g_in = torch.empty_like(g)
        _run("proxy_backward", g, noise, g.numel(), ctx.temperature, grad, g_in)
        return g_in, None, None


class CausalContextFlat(torch.autograd.Function):
    """:class:`lnic.encoder.nets.arm.CausalContext` on the grids concatenated (finest first):
    ``CausalContextFlat.apply(flat, shapes)`` -> [N_CONTEXT, N]."""

    @staticmethod
    def forward(ctx, flat, shapes):  # type: ignore[override]
        flat = flat.contiguous()
        dims = torch.tensor([d for s in shapes for d in s], dtype=torch.int64)
        out = flat.new_empty(len(ARM_CONTEXT) + 1, flat.numel())
        _run(
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
        _run(
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


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the kernels are available and take these tensors (float32 on the CPU)."""
    return library() is not None and all(
        t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors
    )


def fits(n_in: int, hidden: int, n_out: int, *tensors: torch.Tensor) -> bool:
    """Whether the kernels take a network of these sizes and these tensors (see :func:`usable`)."""
    return usable(*tensors) and n_in <= MAX_IN and n_out <= MAX_IN and hidden <= MAX_HIDDEN
