"""lnic: a lightweight overfitted neural image codec.

Python API::

    import lnic
    data = lnic.encode(rgb_uint8_array, quality=4, preset="default")   # -> bytes
    rgb = lnic.decode(data)                                             # -> (H, W, 3) uint8
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "decode", "encode"]


def encode(
    image, quality: int = 4, preset: str = "default", lmbda: float | None = None, seed: int = 0
) -> bytes:
    """Encode an (H, W, 3) or (H, W) uint8 array; returns the bitstream bytes."""
    from lnic.encoder.encode import encode_array

    return encode_array(image, quality=quality, preset=preset, lmbda=lmbda, seed=seed).bitstream


def decode(data: bytes):
    """Decode a bitstream to an (H, W, 3) uint8 array ((H, W) for grayscale bitstreams)."""
    from lnic.decoder import decode_bytes

    return decode_bytes(data)
