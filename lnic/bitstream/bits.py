"""Bit-level writer/reader and signed exp-Golomb codes (network weights, latent escapes)."""

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
    """Reads bits MSB-first; running past the end raises :class:`BitstreamError`.

    The bits are held as a string of '0' / '1' characters, so a read is one slice and one
    ``int(..., 2)`` and an exp-Golomb prefix one ``str.find``.
    """

    def __init__(self, data: bytes, section: str = "network weights") -> None:
        """``section`` names the data in error messages."""
        self._bits = format(int.from_bytes(data, "big"), f"0{8 * len(data)}b") if data else ""
        self._pos = 0
        self.section = section

    def read(self, nbits: int) -> int:
        end = self._pos + nbits
        if end > len(self._bits):
            raise BitstreamError(f"truncated bitstream ({self.section})")
        value = int(self._bits[self._pos : end], 2) if nbits else 0
        self._pos = end
        return value

    @property
    def position(self) -> int:
        """Bits read so far."""
        return self._pos

    def unread(self) -> int:
        """Bits left after the read position."""
        return len(self._bits) - self._pos

    def check_padding(self) -> None:
        """Refuse anything after the read position but the zero bits that pad the last byte:
        a section must be consumed exactly (unread data means a damaged or inconsistent file)."""
        left = self.unread()
        if left >= 8:
            raise BitstreamError(
                f"{left} unread bits at the end of the {self.section} (corrupt file, or a header"
                " that does not match it)"
            )
        if "1" in self._bits[self._pos :]:
            raise BitstreamError(f"non-zero padding bits at the end of the {self.section}")

    def zeros(self, limit: int) -> int:
        """Count and skip the zero bits before the next one bit, and that one bit; more than
        ``limit`` zeros, or no one bit left, raise :class:`BitstreamError`."""
        one = self._bits.find("1", self._pos, self._pos + limit + 1)
        if one < 0:
            if self._pos + limit + 1 > len(self._bits):
                raise BitstreamError(f"truncated bitstream ({self.section})")
            raise BitstreamError(f"corrupt exp-Golomb code ({self.section})")
        zeros = one - self._pos
        self._pos = one + 1
        return zeros


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
    zeros = r.zeros(max_prefix)
    n = zeros + k + 1
    u = (1 << (n - 1)) | r.read(n - 1)
    return unzigzag(u - (1 << k))
