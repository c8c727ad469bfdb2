"""lnic: a lightweight overfitted neural image codec.

Python API::

    import lnic
    data = lnic.encode(rgb_uint8_array, quality=4, preset="default")   # -> bytes
    stats = lnic.encode_with_stats(rgb_uint8_array, quality=4)         # bytes, bpp, PSNR, time
    rgb = lnic.decode(data)                                             # -> (H, W, 3) uint8

``lnic.decode`` takes the file's bytes (a path is a TypeError that says so). ``import
lnic.pillow`` lets Pillow open and save .lnic files.
"""

from __future__ import annotations

from lnic.api import EncodeStats, decode, encode, encode_with_stats

__version__ = "0.1.0"

__all__ = ["EncodeStats", "__version__", "decode", "encode", "encode_with_stats"]
