"""The escape section: exp-Golomb codes of ``|residual| - R`` for the escape symbols +-R.

They sit in their own bit section so that the range-coded section is one uninterrupted stream.
The decoder applies each step's codes right after the step, because later steps read those
latents as context.
"""

from __future__ import annotations

import numpy as np

from lnic.bitstream.bits import BitReader, read_exp_golomb
from lnic.bitstream.latent_coding.steps import Segment
from lnic.bitstream.latent_coding.symbols import ESCAPE_SYMBOL
from lnic.errors import BitstreamError
from lnic.format import ESCAPE_BITS_MAX


def count_escape_codes(data: bytes) -> int:
    """Number of complete order-0 exp-Golomb codes in the escape section (its padding,
    fewer than 8 zero bits, is not one)."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    count, pos, end = 0, 0, len(bits)
    ones = np.flatnonzero(bits)
    while True:
        # a code is z zeros, a one, then z more bits
        i = int(np.searchsorted(ones, pos))
        if i == len(ones):
            return count
        zeros = int(ones[i]) - pos
        if zeros > ESCAPE_BITS_MAX + 1 or ones[i] + zeros + 1 > end:
            return count
        pos = int(ones[i]) + zeros + 1
        count += 1


class EscapeCodes:
    """The escape section as the decoding loops consume it, step by step.

    Once every code is read, the remaining steps' symbols are only kept: any escape among them
    has no code (a corrupt file), which one search at the end (:meth:`finish`) finds at less
    cost than a search per step.
    """

    def __init__(self, data: bytes) -> None:
        self.reader = BitReader(data, "latent escape section")
        self.codes_left = count_escape_codes(data)
        self.unchecked: list[np.ndarray] = []

    def after_step(self, sym: np.ndarray, segments: list[Segment], top: int | None = None) -> None:
        """Apply the escape codes of a step's symbols ``sym`` (``top``: their largest, if known)
        to the stored latents."""
        if not self.codes_left:
            self.unchecked.append(sym)
        elif (sym.max() if top is None else top) >= ESCAPE_SYMBOL:
            self.codes_left -= _read_escapes(self.reader, sym, segments)

    def check_symbols(self) -> None:
        """Refuse the file if a symbol decoded after the last code was an escape. A pass that
        fails later (its latents went wrong at that escape) calls it too, so that the error
        names the first cause rather than what followed from it."""
        if self.unchecked and np.concatenate(self.unchecked).max() >= ESCAPE_SYMBOL:
            raise BitstreamError("escape symbol without an escape code (corrupt bitstream)")

    def finish(self) -> None:
        """After the last step: every escape symbol had its code, and every code its symbol
        (the section holds nothing else but the zero bits padding its last byte)."""
        self.check_symbols()
        if self.codes_left:
            raise BitstreamError(
                f"{self.codes_left} unused escape codes at the end of the latent escape section"
                " (corrupt bitstream)"
            )
        self.reader.check_padding()


def _read_escapes(reader: BitReader, sym: np.ndarray, segments: list[Segment]) -> int:
    """Apply the escape codes of one step's symbols, in order, to the stored latents; returns
    how many were read."""
    found = np.flatnonzero(sym >= ESCAPE_SYMBOL).tolist()
    for j in found:
        extra = read_exp_golomb(reader, 0, max_prefix=ESCAPE_BITS_MAX)
        if extra < 0:  # codes hold |residual| - R >= 0: the encoder writes no other
            raise BitstreamError("impossible escape code (a negative magnitude)")
        if sym[j] != ESCAPE_SYMBOL:
            extra = -extra  # residual -R
        for seg in segments:
            if seg.offset <= j < seg.offset + seg.length:
                g = seg.grid
                g.buf[g.cell(seg.t, g.y0[seg.t] + j - seg.offset)] += extra
                break
    return len(found)
