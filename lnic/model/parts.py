"""The decoder's three modules by name: the ARM, the upsampling and the synthesis.

One structure serves every per-layer view of the decoder: the quantized layers a file carries
(:data:`DecoderWeights`), their shapes as the architecture fixes them (:data:`DecoderShapes`),
and the encoder's float layers before quantization. :meth:`DecoderParts.modules` is the one
definition of the modules' order in the bitstream (docs/format.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from lnic.model.quantized import QuantizedLinear

T = TypeVar("T")

MODULE_NAMES = ("arm", "upsampling", "synthesis")
"""The modules in the order the weights section stores them."""


class LayerShape(NamedTuple):
    """Shapes of one layer's weight and bias arrays (a bias of shape (0,) is absent)."""

    weight: tuple[int, ...]
    bias: tuple[int, ...]


@dataclass(frozen=True)
class UpsamplingParts(Generic[T]):
    """The upsampling module: the x2 filters (one row of taps per level transition, [levels - 1,
    4]) and the pre-filters (one row per grid, [levels, 4]); neither has a bias."""

    up: T
    pre: T

    def layers(self) -> list[T]:
        return [self.up, self.pre]


@dataclass(frozen=True)
class SynthesisParts(Generic[T]):
    """The synthesis module: two 1x1 layers, then two 3x3 convolutions (weights flattened to
    [out, in * 9])."""

    lin1: T
    lin2: T
    conv_a: T
    conv_b: T

    def layers(self) -> list[T]:
        return [self.lin1, self.lin2, self.conv_a, self.conv_b]


@dataclass(frozen=True)
class DecoderParts(Generic[T]):
    """Every layer of the decoder, by module. The ARM's depth varies with the architecture, so
    its layers stay a list (the input layer first)."""

    arm: list[T]
    upsampling: UpsamplingParts[T]
    synthesis: SynthesisParts[T]

    def modules(self) -> dict[str, list[T]]:
        """Each module's layers, keyed by :data:`MODULE_NAMES`, in the bitstream's order."""
        layers = (list(self.arm), self.upsampling.layers(), self.synthesis.layers())
        return dict(zip(MODULE_NAMES, layers))

    @classmethod
    def from_modules(
        cls, arm: Sequence[T], upsampling: Sequence[T], synthesis: Sequence[T]
    ) -> DecoderParts[T]:
        """The inverse of :meth:`modules`."""
        up, pre = upsampling
        lin1, lin2, conv_a, conv_b = synthesis
        return cls(list(arm), UpsamplingParts(up, pre), SynthesisParts(lin1, lin2, conv_a, conv_b))

    def with_module(self, name: str, layers: Sequence[T]) -> DecoderParts[T]:
        """A copy with module ``name`` (one of :data:`MODULE_NAMES`) replaced by ``layers``."""
        modules = self.modules()
        if name not in modules:
            raise KeyError(f"no decoder module {name!r}")
        modules[name] = list(layers)
        return self.from_modules(**modules)


UpsamplingWeights = UpsamplingParts[QuantizedLinear]
SynthesisWeights = SynthesisParts[QuantizedLinear]
DecoderWeights = DecoderParts[QuantizedLinear]
"""The quantized layers a file carries."""

DecoderShapes = DecoderParts[LayerShape]
"""The shapes of those layers, which follow from the architecture (the file does not store
them)."""
