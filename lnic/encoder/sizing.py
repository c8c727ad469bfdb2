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

    def architecture(self, levels: int, channels: int) -> Architecture:
        """The decoder of these widths for a latent pyramid of ``levels`` grids."""
        return Architecture(
            levels=levels,
            arm_hidden=self.arm_hidden,
            arm_layers=self.arm_layers,
            synth_hidden=self.synth_hidden,
            channels=channels,
        )


SIZE_CLASSES: tuple[SizeClass, ...] = (
    SizeClass(32 * 32, arm_hidden=4, arm_layers=2, synth_hidden=8),
    SizeClass(128 * 128, arm_hidden=4, arm_layers=2, synth_hidden=16),
    SizeClass(256 * 256, arm_hidden=8, arm_layers=2, synth_hidden=16),
)
"""Size classes, smallest first; larger images get :class:`Architecture`'s defaults.

Measured with the fast preset's 490 steps on centre crops of dev01, dev03, dev04, dev05, dev07
and dev11 at qualities 2 and 5, one seed (``benchmarks/small_images/arch.md``), as the bpp saved
at equal ``MSE + lambda * bpp`` against the default 16 -> 16 ARM and 40-wide synthesis:

- 16x16: the 4 -> 4 ARM saves 4.6-5.7 bpp at quality 2 and 8.5-8.8 at quality 5 (of 10-15
  bpp); its weights take ~100-140 bytes instead of ~240-320. The 8-wide synthesis beats the
  16-wide one at quality 2 (by 0.2 and 1.0 bpp on two images).
- 64x64: 0.5-0.6 bpp at quality 2 and 0.4-0.6 at quality 5 (of 1-3 bpp); the 16-wide
  synthesis is the better one at quality 5 (by 0.24 bpp over five images), and it keeps
  headroom at high rates, where an 8-wide one was once seen stuck near 26 dB.
- 128x128: 0.13-0.19 bpp at quality 2 and 0.07-0.16 at quality 5.
- 256x256 (dev05 only): the 8 -> 8 ARM and 16-wide synthesis save 0.02-0.06 bpp and a third
  of the time; the 4 -> 4 ARM loses a little there.

The 2-wide one-layer ARMs are as good on these crops but run without the native kernels.
"""


def choose_architecture(height: int, width: int, channels: int = 3) -> Architecture:
    """The decoder the encoder trains for an image of ``height`` x ``width``: the widths of the
    smallest :data:`SIZE_CLASSES` entry that holds it, with every latent level it allows."""
    levels = num_levels(height, width)
    for size in SIZE_CLASSES:
        if height * width <= size.max_pixels:
            return size.architecture(levels, channels)
    return Architecture(levels=levels, channels=channels)


SMALLER_DECODER = SizeClass(0, arm_hidden=8, arm_layers=2, synth_hidden=24)
"""The widths of the decoder that races the default one on smooth photos at low rates
(:attr:`lnic.encoder.phases.NoisePhase.start_race_small_ratio`): ~690 parameters instead of
~1,190, 400-500 bytes fewer in the file, 711 instead of 1,287 MAC per pixel. On the dev set's
smoothest photos at qualities 1-3 it ends 0.5-18% of rate below the default decoder on 10 of 20
fits and up to 10.5% above it on the others, and 6.8% above it on average where the finest detail
is richer (benchmarks/ablation.md); which photos gain, only a race tells."""


def smaller_architecture(arch: Architecture) -> Architecture | None:
    """``arch`` with :data:`SMALLER_DECODER`'s widths, or None where that is not smaller
    (the size classes of small images are narrower already)."""
    small = SMALLER_DECODER
    candidate = small.architecture(arch.levels, arch.channels)
    if arch.arm_hidden < small.arm_hidden or arch.synth_hidden < small.synth_hidden:
        return None
    return None if candidate == arch else candidate
