"""The decoder's size per image size: the encoder's choice, written in the header.

The networks' weights cost about the same bytes whatever the image, so on a small image the
default decoder (~1,200 parameters, ~600-900 bytes once quantized) takes most of the file and
its quantization, which trades their bits against the image's error, blurs the image. C3 and
Cool-chic choose the decoder per image; lnic chooses it by the image's pixel count from
measurements of dev-set centre crops (``benchmarks/small_images/arch.md``): the smallest size
class that holds the image gives the ARM's and the synthesis' widths. The MAC budget of the
default architecture is a ceiling, not a target. The decoder reads whatever the header says, so
the choice needs no format change.
"""

from __future__ import annotations

from dataclasses import dataclass

from lnic.model.architecture import Architecture
from lnic.model.latents import num_levels


@dataclass(frozen=True)
class SizeClass:
    """The network widths of images of at most ``max_pixels`` pixels."""

    max_pixels: int
    arm_hidden: int
    arm_layers: int
    synth_hidden: int


SIZE_CLASSES: tuple[SizeClass, ...] = (
    SizeClass(128 * 128, arm_hidden=4, arm_layers=2, synth_hidden=8),
    SizeClass(256 * 256, arm_hidden=8, arm_layers=2, synth_hidden=16),
)
"""Size classes, smallest first; larger images get :class:`Architecture`'s defaults.

Measured on dev05 and dev11 centre crops at qualities 2 and 5 (fast preset's 490 steps),
against the default 16 -> 16 ARM and 40-wide synthesis: at 16x16 the 4 -> 4 ARM and 8-wide
synthesis save 5.7-8.5 bpp at equal J (weights 104-136 bytes instead of 235-317), at 64x64
0.55-0.6 bpp, at 128x128 0.16-0.19 bpp; at 256x256 the 8 -> 8 ARM and 16-wide synthesis
save 0.02-0.06 bpp and a third of the time, and the 4 -> 4 ARM loses a little.
"""


def choose_architecture(height: int, width: int, channels: int = 3) -> Architecture:
    """The decoder the encoder trains for an image of ``height`` x ``width``: the widths of the
    smallest :data:`SIZE_CLASSES` entry that holds it, with every latent level it allows."""
    levels = num_levels(height, width)
    for size in SIZE_CLASSES:
        if height * width <= size.max_pixels:
            return Architecture(
                levels=levels,
                arm_hidden=size.arm_hidden,
                arm_layers=size.arm_layers,
                synth_hidden=size.synth_hidden,
                channels=channels,
            )
    return Architecture(levels=levels, channels=channels)
