"""How torch calls the native kernels, and the quantization proxy's autograd functions.

Every kernel takes its tensors as data pointers and the thread count as its last argument
(:func:`call_kernel`); each network's autograd functions live in ``arm_ops``,
``synthesis_ops`` and ``upsampling_ops``, with the same values and gradients as the torch code.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from lnic.encoder.native import library
from lnic.encoder.native.limits import MAX_HIDDEN, MAX_IN, NCHUNK

_WEIGHT_SAMPLING: ContextVar[tuple[int, int]] = ContextVar("weight_sampling", default=(1, 0))


@contextmanager
def sampled_weight_gradients(stride: int, phase: int) -> Iterator[None]:
    """Within this block, the networks' kernels estimate their weight gradients from one block of
    samples in ``stride`` (those with ``block % stride == phase``), times ``stride``; the
    latents' gradients stay exact. ``stride`` 1 (the default): every block, exact.

    A network's weight gradient is a sum over the whole image, and its computation is a large
    part of the step (about 20 of the ~100 ms of a one-thread 768x512 step), while the networks
    learn from far fewer samples than a 768x512 image gives them; with ``phase`` the training
    step modulo ``stride``, every block still contributes once every ``stride`` steps, which the
    optimisers' first moments (averaging over ~10 steps) see as a whole.
    """
    if not (isinstance(stride, int) and stride >= 1 and 0 <= phase < stride):
        raise ValueError(f"need stride >= 1 and 0 <= phase < stride, got {stride}, {phase}")
    token = _WEIGHT_SAMPLING.set((stride, phase))
    try:
        yield
    finally:
        _WEIGHT_SAMPLING.reset(token)


NO_WEIGHT_GRADIENTS = (1 << 30, (1 << 30) - 1)
"""A ``(stride, phase)`` that no block of any image matches: the networks' kernels then skip
their weight gradients (which come out zero) and compute only the latents' gradients."""


@contextmanager
def without_weight_gradients() -> Iterator[None]:
    """Within this block the networks' kernels compute no weight gradients (those of the
    per-pixel and per-latent networks come out zero): for steps whose networks do not learn,
    which then cost about a fifth less (44 against 55 ms for 768x512 on two threads of an
    AVX2 machine)."""
    with sampled_weight_gradients(*NO_WEIGHT_GRADIENTS):
        yield


def weight_sampling() -> tuple[int, int]:
    """The ``(stride, phase)`` that :func:`sampled_weight_gradients` set, else ``(1, 0)``."""
    return _WEIGHT_SAMPLING.get()


def _ptr(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def call_kernel(kernel: str, *args) -> int | None:
    """Call ``kernel`` of the library: tensors go as data pointers (``None`` as NULL), numbers as
    they are, and the process's thread count is appended (every kernel's last argument)."""
    return getattr(library(), kernel)(
        *(_ptr(a) if isinstance(a, torch.Tensor) else a for a in args), torch.get_num_threads()
    )


def run_kernel(kernel: str, *args) -> None:
    """:func:`call_kernel` for the kernels that return nothing."""
    call_kernel(kernel, *args)


def pack_params(params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """A network's parameters as the one flat array the kernels take."""
    return torch.cat([p.detach().reshape(-1) for p in params]).contiguous()


def unpack_params(flat: torch.Tensor, shapes: list[torch.Size]) -> list[torch.Tensor]:
    """The inverse of :func:`pack_params`: views of ``flat`` with the parameters' shapes."""
    out, off = [], 0
    for shape in shapes:
        n = shape.numel()
        out.append(flat[off : off + n].view(shape))
        off += n
    return out


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the kernels are available and take these tensors (float32 on the CPU)."""
    return library() is not None and all(
        t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors
    )


def fits(n_in: int, hidden: int, n_out: int, *tensors: torch.Tensor) -> bool:
    """Whether the kernels take a network of these sizes and these tensors (see :func:`usable`)."""
    return usable(*tensors) and n_in <= MAX_IN and n_out <= MAX_IN and hidden <= MAX_HIDDEN


def gaussian_noise(like: torch.Tensor, std: float) -> torch.Tensor:
    """``std * torch.randn_like(like)`` in distribution, in one native pass (``gauss_fill``).

    The values are a function of one 62-bit seed drawn from torch's generator (so
    ``torch.manual_seed`` still fixes them) and of each element's index, not of the threads.
    """
    out = torch.empty_like(like)
    seed = int(torch.randint(0, 2**62, (1,)).item())
    run_kernel("gauss_fill", out, out.numel(), seed, float(std))
    return out


class SoftRoundNoise(torch.autograd.Function):
    """``soft_round(soft_round(g, T) + noise, T)`` (:func:`lnic.encoder.train.soft_round`).

    ``SoftRoundNoise.apply(g, noise, temperature)`` with ``temperature`` a float.
    """

    @staticmethod
    def forward(ctx, g, noise, temperature):  # type: ignore[override]
        g, noise = g.contiguous(), noise.contiguous()
        out = torch.empty_like(g)
        run_kernel("proxy_forward", g, noise, g.numel(), temperature, out)
        ctx.save_for_backward(g, noise)
        ctx.temperature = temperature
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        g, noise = ctx.saved_tensors
        grad = grad.contiguous()
        g_in = torch.empty_like(g)
        run_kernel("proxy_backward", g, noise, g.numel(), ctx.temperature, grad, g_in)
        return g_in, None, None


class SquaredError(torch.autograd.Function):
    """``torch.nn.functional.mse_loss(x, target)`` (gradient for ``x`` only) in one native pass.

    The loss is a scalar, so the forward writes its gradient at 1 on the way (``mse_forward``)
    and the backward scales it: torch's reduction reads the image twice more and takes ~6 ms of
    a one-thread 768x512 step, this ~1 ms.
    """

    @staticmethod
    def forward(ctx, x, target):  # type: ignore[override]
        x, target = x.contiguous(), target.contiguous()
        grad = torch.empty_like(x)
        sums = torch.empty(NCHUNK, dtype=torch.float64)
        run_kernel("mse_forward", x, target, x.numel(), grad, sums)
        ctx.save_for_backward(grad)
        return (sums.sum() / x.numel()).to(torch.float32)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        (grad,) = ctx.saved_tensors
        # the training loss adds the error unscaled: skip a pass over the image then
        return (grad if grad_out.item() == 1.0 else grad * grad_out), None


def mean_squared_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean squared error of ``x`` against ``target`` (same shape): :class:`SquaredError`
    where the kernels are usable, torch's otherwise (same value up to float rounding)."""
    if usable(x, target) and x.shape == target.shape:
        return SquaredError.apply(x, target)
    return torch.nn.functional.mse_loss(x, target)
