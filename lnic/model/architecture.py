"""The decoder's architecture (written in the header) and its analytic MAC count."""

from __future__ import annotations

from dataclasses import dataclass

from lnic.model.arm import N_CONTEXT, arm_macs
from lnic.model.latents import grid_shapes
from lnic.model.parts import DecoderShapes, LayerShape, SynthesisParts, UpsamplingParts
from lnic.model.synthesis import synthesis_macs
from lnic.model.upsampling import upsampling_macs


@dataclass(frozen=True)
class Architecture:
    """Sizes of the per-image decoder.

    The defaults spend ~1.3 kMAC/pixel: ARM 13 -> 16 -> 16 -> 2 (~660 MAC/px over 1.33
    latents/pixel), learned pre-filters and upsampling (~64), synthesis 7 -> 40 -> 3 + two 3x3
    (~560).
    """

    levels: int
    arm_hidden: int = 16
    arm_layers: int = 2
    synth_hidden: int = 40
    channels: int = 3

    def weight_shapes(self) -> DecoderShapes:
        """The shape of every layer's weight and bias, by module."""
        dims = [N_CONTEXT] + [self.arm_hidden] * self.arm_layers + [2]
        c, hidden = self.channels, self.synth_hidden
        return DecoderShapes(
            arm=[LayerShape((b, a), (b,)) for a, b in zip(dims[:-1], dims[1:])],
            upsampling=UpsamplingParts(
                up=LayerShape((self.levels - 1, 4), (0,)),
                pre=LayerShape((self.levels, 4), (0,)),
            ),
            synthesis=SynthesisParts(
                lin1=LayerShape((hidden, self.levels), (hidden,)),
                lin2=LayerShape((c, hidden), (c,)),
                conv_a=LayerShape((c, 9 * c), (c,)),
                conv_b=LayerShape((c, 9 * c), (c,)),
            ),
        )

    def mac_table(self, height: int, width: int) -> dict[str, float]:
        """Multiply-accumulates per decoded pixel, per module and in total (biases excluded)."""
        shapes = grid_shapes(height, width, self.levels)
        pixels = height * width
        latents = sum(h * w for h, w in shapes)
        table = {
            "arm": arm_macs(self.arm_hidden, self.arm_layers) * latents / pixels,
            "upsampling": upsampling_macs(shapes) / pixels,
            "synthesis": float(synthesis_macs(self.levels, self.synth_hidden, self.channels)),
        }
        table["total"] = sum(table.values())
        return table
