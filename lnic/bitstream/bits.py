"""Bit-level writer/reader and signed exp-Golomb codes (used for the network weights)."""

from __future__ import annotations

from lnic.errors import BitstreamError


class BitWriter:
    """Accumulates bits MSB-first; :meth:`getvalue` pads the last byte with zeros."""

    def __init__(self) -> None:
        self._bits: list[int] = []

    def write(self, value: int, nbits: int) -> None:
        self._bits.extend((value >> (nbits - 1 - i)) & 1 for i in range(nbits))

    def __len__(self) -> int:
        return len(self._bits)

    def getvalue(self) -> bytes:
        bits = self._bits + [0] * (-len(self._bits) % 8)
        out = bytearray()
        for i in range(0, len(bits), 8):
            byte = 0
            for b in bits[i : i + 8]:
                byte = (byte << 1) | b
            out.append(byte)
        return bytes(out)


class BitReader:
    """Reads bits MSB-first; running past the end raises :class:`BitstreamError`."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, nbits: int) -> int:
        if self._pos + nbits > 8 * len(self._data):
            raise BitstreamError("truncated bitstream (network weights)")
        value = 0
        for _ in range(nbits):
            byte = self._data[self._pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value


def zigzag(v: int) -> int:
    """Signed -> unsigned: 0, -1, 1, -2, 2 ... -> 0, 1, 2, 3, 4 ..."""
    return 2 * v if v >= 0 else -2 * v - 1


def unzigzag(u: int) -> int:
    return u // 2 if u % 2 == 0 else -(u + 1) // 2


def exp_golomb_length(v: int, k: int) -> int:
    """Length in bits of the order-k exp-Golomb code of signed ``v``."""
    u = zigzag(v) + (1 << k)
    return 2 * u.bit_length() - 1 - k


def write_exp_golomb(w: BitWriter, v: int, k: int) -> None:
    u = zigzag(v) + (1 << k)
    n = u.bit_length()
    w.write(0, n - 1 - k)
    w.write(u, n)


def read_exp_golomb(r: BitReader, k: int, max_prefix: int = 40) -> int:
    zeros = 0
    while r.read(1) == 0:
        zeros += 1
        if zeros > max_prefix:
            raise BitstreamError("corrupt exp-Golomb code in the network weights")
    n = zeros + k + 1
    u = (1 << (n - 1)) | r.read(n - 1)
    return unzigzag(u - (1 << k))
