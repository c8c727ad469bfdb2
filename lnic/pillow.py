"""A Pillow plugin for .lnic files: ``import lnic.pillow``, then ``Image.open("x.lnic")`` and
``im.save("x.lnic", quality=4, preset="fast")``.

Opening reads only the header (and the ICC profile, which follows it): size, mode and
``info["icc_profile"]`` are known before the image is decoded, on ``load()`` or the first
access to the pixels. Saving encodes with :func:`lnic.encode`; the options are its keyword
arguments (``quality`` is lnic's 1..8 scale, ``preset``, ``lmbda``, ``seed``,
``target_bytes``, ``target_bpp``, ``steps``) and the ICC profile is the ``icc_profile``
option or the image's own.
"""

from __future__ import annotations

import struct
from typing import IO

import numpy as np
from PIL import Image, ImageFile

from lnic.api import decode, encode
from lnic.bitstream.container import unpack_prefix
from lnic.bitstream.header import HEADER_SIZE, Header
from lnic.errors import LnicError
from lnic.format import FLAG_ICC_PROFILE, MAGIC, MAX_ICC_BYTES
from lnic.image_io import to_array, usable_icc_profile

FORMAT = "LNIC"
MAX_FILE_BYTES = 1 << 30
"""Files larger than this are refused before reading (as ``lnic decode`` does)."""

_SAVE_OPTIONS = ("quality", "preset", "lmbda", "seed", "target_bytes", "target_bpp", "steps")


def _accept(prefix: bytes) -> bool:
    return prefix[: len(MAGIC)] == MAGIC


def _read_prefix(fp: IO[bytes]) -> tuple[Header, bytes | None]:
    """The header and ICC profile from the start of ``fp`` (read no further than they go)."""
    head = fp.read(HEADER_SIZE + 4)
    header = Header.unpack(head)
    if header.flags & FLAG_ICC_PROFILE and len(head) >= header.size + 4:
        (n,) = struct.unpack_from("<I", head, header.size)
        head += fp.read(min(n, MAX_ICC_BYTES + 1) - (len(head) - header.size - 4))
    return unpack_prefix(head)


class LnicImageFile(ImageFile.ImageFile):
    """An .lnic file opened by Pillow (decoded on ``load()``)."""

    format = FORMAT
    format_description = "lnic overfitted neural image codec"

    def _open(self) -> None:
        try:
            header, icc = _read_prefix(self.fp)
        except LnicError as exc:
            raise OSError(f"lnic: {exc}") from exc
        self._size = (header.width, header.height)
        self._mode = "L" if header.channels == 1 else "RGB"
        if icc is not None:
            self.info["icc_profile"] = icc
        self.tile = [ImageFile._Tile("lnic", (0, 0, *self.size), 0, None)]


class _LnicDecoder(ImageFile.PyDecoder):
    """Decodes the whole file at once: the decoder needs all of it."""

    _pulls_fd = True

    def decode(self, buffer: bytes | Image.SupportsArrayInterface) -> tuple[int, int]:  # noqa: ARG002
        assert self.fd is not None
        self.fd.seek(0)
        data = self.fd.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise OSError(f"lnic: file over {MAX_FILE_BYTES} bytes")
        try:
            pixels = decode(data)
        except LnicError as exc:
            raise OSError(f"lnic: {exc}") from exc
        self.set_as_raw(np.ascontiguousarray(pixels).tobytes())
        return -1, 0


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:  # noqa: ARG001
    info = im.encoderinfo
    try:
        pixels = to_array(im, "image")
        icc = info.get("icc_profile", im.info.get("icc_profile"))
        channels = 1 if pixels.ndim == 2 else 3
        options = {k: info[k] for k in _SAVE_OPTIONS if info.get(k) is not None}
        data = encode(
            pixels, icc_profile=icc if usable_icc_profile(icc, channels) else None, **options
        )
    except LnicError as exc:
        raise OSError(f"cannot write {im.mode} image as LNIC: {exc}") from exc
    fp.write(data)


Image.register_open(FORMAT, LnicImageFile, _accept)
Image.register_decoder("lnic", _LnicDecoder)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".lnic")
Image.register_mime(FORMAT, "image/x-lnic")
