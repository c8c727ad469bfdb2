"""Float synthesis trained by the encoder (exact integer twin: :mod:`lnic.model.synthesis`).

The 3x3 convs start at zero, so the network starts as the per-pixel MLP alone. The MLP's
weights start tiny (PyTorch's default range divided by ``out_features**2``, as Cool-chic does):
the output starts near zero and, more importantly, the first layer stays small while the latents
grow large, so one quantization step of a latent is a small change of the image. With PyTorch's
default range the latents stay within +-3 and the image within ~32 dB
(benchmarks/training_notes.md).

Both biases start at zero. PyTorch's default bias range is that of the default weights, so with
weights divided by ``out_features**2`` a default first-layer bias would outweigh the weighted
latents and leave about half of the hidden units dead (negative before the ReLU) from the first
step; on the development set that costs ~6.7% of rate at equal distortion and makes the result
swing with the seed (benchmarks/ablation.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lnic.encoder.native.ops import fits, usable
from lnic.encoder.native.synthesis_ops import Mlp2, ResidualConv3x3
from lnic.encoder.nets.mlp import mlp_channels_first


class Synthesis(nn.Module):
    """Float synthesis network (trained by the encoder)."""

    def __init__(self, levels: int, hidden: int, channels: int):
        super().__init__()
        self.lin1 = nn.Linear(levels, hidden)
        self.lin2 = nn.Linear(hidden, channels)
        with torch.no_grad():
            for lin in (self.lin1, self.lin2):
                lin.weight.div_(lin.out_features**2)
            self.lin1.bias.zero_()
            self.lin2.bias.zero_()
        self.conv_a = nn.Conv2d(channels, channels, 3)
        self.conv_b = nn.Conv2d(channels, channels, 3)
        for conv in (self.conv_a, self.conv_b):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, z: torch.Tensor, native: bool = True) -> torch.Tensor:
        """[levels, H, W] -> [channels, H, W]; ``native``: the MLP and the convolutions in
        :mod:`lnic.encoder.native` when available (same values)."""
        levels, h, w = z.shape
        x = z.reshape(levels, -1)
        native = native and usable(z, *self.parameters())
        if native and fits(levels, self.lin1.out_features, self.lin2.out_features):
            y = Mlp2.apply(x, self.lin1.weight, self.lin1.bias, self.lin2.weight, self.lin2.bias)
        else:
            y = mlp_channels_first(x, [self.lin1, self.lin2])
        y = y.reshape(-1, h, w)
        if native:
            y = ResidualConv3x3.apply(y, self.conv_a.weight, self.conv_a.bias, False)
            return ResidualConv3x3.apply(y, self.conv_b.weight, self.conv_b.bias, True)
        y = y + self._conv(self.conv_a, y)
        return y + self._conv(self.conv_b, torch.relu(y))

    @staticmethod
    def _conv(conv: nn.Conv2d, y: torch.Tensor) -> torch.Tensor:
        """3x3 convolution with replicated borders (the decoder's border rule)."""
        padded = F.pad(y[None], (1, 1, 1, 1), mode="replicate")
        # oneDNN's 3-channel convolution is twice as fast channels-last (forward + backward)
        padded = padded.contiguous(memory_format=torch.channels_last)
        return F.conv2d(padded, conv.weight, conv.bias)[0]
