"""Float synthesis trained by the encoder (exact integer twin: :mod:`lnic.model.synthesis`).

The 3x3 convs start at zero, so the network starts as the per-pixel MLP alone. The MLP's
weights start tiny (PyTorch's default range divided by ``out_features**2``, as Cool-chic does):
the output starts near zero and, more importantly, the first layer stays small while the latents
grow large, so one quantization step of a latent is a small change of the image. With PyTorch's
default range the latents stayed within +-3 and the image within ~32 dB (training notes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Synthesis(nn.Module):
    """Float synthesis network (trained by the encoder)."""

    def __init__(self, levels: int, hidden: int, channels: int):
        super().__init__()
        self.lin1 = nn.Linear(levels, hidden)
        self.lin2 = nn.Linear(hidden, channels)
        with torch.no_grad():
            for lin in (self.lin1, self.lin2):
                lin.weight.div_(lin.out_features**2)
            self.lin2.bias.zero_()
        self.conv_a = nn.Conv2d(channels, channels, 3)
        self.conv_b = nn.Conv2d(channels, channels, 3)
        for conv in (self.conv_a, self.conv_b):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """[levels, H, W] -> [channels, H, W]."""
        levels, h, w = z.shape
        lin1, lin2 = self.lin1, self.lin2
        y = PixelMlp.apply(z.reshape(levels, -1), lin1.weight, lin1.bias, lin2.weight, lin2.bias)
        y = y.reshape(-1, h, w)
        y = y + self._conv(self.conv_a, y)
        return y + self._conv(self.conv_b, torch.relu(y))

    @staticmethod
    def _conv(conv: nn.Conv2d, y: torch.Tensor) -> torch.Tensor:
        """3x3 convolution with replicated borders (the decoder's border rule)."""
        if torch.compiler.is_compiling():  # inductor mis-lays replication_pad2d's backward
            padded = edge_pad(y, 1)[None]
        else:  # 25x faster than edge_pad when eager
            padded = F.pad(y[None], (1, 1, 1, 1), mode="replicate")
        # oneDNN's 3-channel convolution is twice as fast channels-last (forward + backward)
        padded = padded.contiguous(memory_format=torch.channels_last)
        return F.conv2d(padded, conv.weight, conv.bias)[0]


class PixelMlp(torch.autograd.Function):
    """``W2 @ relu(W1 @ z + b1) + b2`` on channels-first pixels ``z`` [levels, N] -> [C, N].

    The same function as two ``nn.Linear`` on [N, levels] rows, laid out so that every product
    runs along the long pixel axis and no transposed copies are made; the backward pass keeps
    only the ReLU output (its sign is the mask). Forward + backward of the synthesis on a
    768x512 image: ~25% less time than the row layout (training notes, session 5).
    """

    @staticmethod
    def forward(ctx, z, w1, b1, w2, b2):  # type: ignore[override]
        hidden = torch.addmm(b1[:, None], w1, z).clamp_min_(0.0)
        ctx.save_for_backward(z, w1, w2, hidden)
        return torch.addmm(b2[:, None], w2, hidden)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        z, w1, w2, hidden = ctx.saved_tensors
        grad = grad.contiguous()
        grad_w2 = grad @ hidden.T
        grad_hidden = (w2.T @ grad).mul_(hidden > 0)
        return (w1.T @ grad_hidden, grad_hidden @ z.T, grad_hidden.sum(1),
                grad_w2, grad.sum(1))


def edge_pad(y: torch.Tensor, p: int) -> torch.Tensor:
    """Replicate the borders of [C, H, W] by ``p`` samples (index-based: compiles cleanly)."""
    _, h, w = y.shape
    rows = torch.arange(-p, h + p).clamp(0, h - 1)
    cols = torch.arange(-p, w + p).clamp(0, w - 1)
    return y.index_select(1, rows).index_select(2, cols)
