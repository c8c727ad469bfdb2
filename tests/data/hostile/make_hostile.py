"""Build the hostile-file corpus of ``tests/data/hostile/`` and its index (README.md).

Each file is a crafted .lnic stream with a valid CRC-32 (unless the CRC is what it tests); the
index says what each tests and what decoding it must give: an error message fragment or the
digest of the exact pixels. Valid files are checked against the slow reference decoder of
``tests/test_golden.py`` when they are made. Run only to change the corpus (the committed
files are the reference):

    OMP_NUM_THREADS=1 python tests/data/hostile/make_hostile.py

The builders (:func:`crafted_bitstream`, :func:`quiet_bitstream`) also serve
``benchmarks/decoder_limits.py``.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent
_CRC = struct.Struct("<I")


def fix_crc(data: bytes) -> bytes:
    """``data`` with its last four bytes replaced by the CRC-32 of the rest."""
    return data[:-4] + _CRC.pack(zlib.crc32(data[:-4]))


def crafted_bitstream(
    height: int,
    width: int,
    channels: int = 3,
    levels: int | None = None,
    seed: int = 0,
    spread: float = 1.0,
    arm_hidden: int = 16,
    arm_layers: int = 2,
    synth_hidden: int = 40,
    extreme: bool = False,
) -> bytes:
    """A valid file of random integer networks and Laplace latents (``spread`` 0: all zero).

    ``extreme``: every weight and bias at the format's largest magnitude (+-2^15, steps 2^0)
    and latents up to +-4096, which saturates every clamp of the integer decoder.
    """
    from lnic.bitstream.container import pack_file
    from lnic.bitstream.header import Header
    from lnic.bitstream.latent_coding import encode_latents
    from lnic.bitstream.weights import encode_weights
    from lnic.format import ARM_WEIGHT_CLAMP, LATENT_CLAMP
    from lnic.model.architecture import Architecture
    from lnic.model.latents import grid_shapes, num_levels
    from lnic.model.parts import DecoderWeights, SynthesisWeights, UpsamplingWeights
    from lnic.model.quantized import QuantizedLinear

    rng = np.random.default_rng(seed)
    levels = levels or num_levels(height, width)
    arch = Architecture(levels, arm_hidden, arm_layers, synth_hidden, channels)
    shapes = arch.weight_shapes()
    none = np.zeros(0, dtype=np.int64)

    def values(shape, scale):
        if extreme:
            return rng.choice([-ARM_WEIGHT_CLAMP, ARM_WEIGHT_CLAMP], shape)
        return rng.integers(-scale, scale + 1, shape)

    e = 0 if extreme else 8
    arm = [QuantizedLinear(values(s.weight, 60), values(s.bias, 200), e, e) for s in shapes.arm]
    if extreme:
        taps = values((levels - 1, 4), 0)
        pre = values((levels, 4), 0)
    else:
        taps = np.tile([-6, -18, 58, 222], (levels - 1, 1)) + rng.integers(-4, 5, (levels - 1, 4))
        pre = np.tile([180, 40, -8, 6], (levels, 1)) + rng.integers(-4, 5, (levels, 4))
    up = UpsamplingWeights(QuantizedLinear(taps, none, e, 0), QuantizedLinear(pre, none, e, 0))
    es = 0 if extreme else 12
    synth = SynthesisWeights(
        *[
            QuantizedLinear(values(s.weight, 250), values(s.bias, 250), es, es)
            for s in shapes.synthesis.layers()
        ]
    )
    if not extreme:
        synth.lin2.bias[:] = 1 << 12  # output around mid-grey
    grid_sizes = grid_shapes(height, width, levels)
    if extreme:
        grids = [rng.integers(-LATENT_CLAMP, LATENT_CLAMP + 1, s).astype(float) for s in grid_sizes]
    else:
        grids = [np.round(rng.laplace(0, spread, s)) if spread else np.zeros(s) for s in grid_sizes]
    latents, escapes = encode_latents(grids, arm)
    weights = encode_weights(DecoderWeights(arm, up, synth))
    return pack_file(Header(width, height, arch, 0, 0, 0), weights, latents, escapes)


def quiet_bitstream(height: int, width: int, channels: int = 3) -> bytes:
    """The smallest file of its size: all-zero latents that an all-zero ARM predicts with the
    table's likeliest symbol (its log-scale far below the table's), so every latent costs
    ``min_symbol_bits`` (about 0.001 bits): a bomb's best case, or a flat grey image."""
    from lnic.bitstream.container import pack_file
    from lnic.bitstream.header import Header
    from lnic.bitstream.weights import encode_weights
    from lnic.model.architecture import Architecture
    from lnic.model.latents import grid_shapes, num_levels
    from lnic.model.parts import DecoderWeights, SynthesisWeights, UpsamplingWeights
    from lnic.model.quantized import QuantizedLinear

    levels = num_levels(height, width)
    arch = Architecture(levels, channels=channels)
    shapes = arch.weight_shapes()

    def zeros(shape) -> np.ndarray:
        return np.zeros(shape, dtype=np.int64)

    arm = [QuantizedLinear(zeros(s.weight), zeros(s.bias), 8, 8) for s in shapes.arm]
    arm[-1].bias[1] = -(1 << 12)  # log-scale -16: scale_idx 0
    up = UpsamplingWeights(
        QuantizedLinear(np.tile([-6, -18, 58, 222], (levels - 1, 1)), zeros(0), 8, 0),
        QuantizedLinear(np.tile([256, 0, 0, 0], (levels, 1)), zeros(0), 8, 0),
    )
    synth = SynthesisWeights(
        *[
            QuantizedLinear(zeros(s.weight), zeros(s.bias), 12, 12)
            for s in shapes.synthesis.layers()
        ]
    )
    synth.lin2.bias[:] = 1 << 11  # pixel value 127.5
    n_latents = sum(h * w for h, w in grid_shapes(height, width, levels))
    weights = encode_weights(DecoderWeights(arm, up, synth))
    return pack_file(Header(width, height, arch, 0, 0, 0), weights, _zeros_coded(n_latents), b"")


def _zeros_coded(n_latents: int) -> bytes:
    """The range-coded section of ``n_latents`` zero latents of predicted mean 0 and scale row
    0 (what the quiet ARM predicts everywhere: the coding order does not matter), coded in
    chunks without evaluating any ARM."""
    import constriction

    from lnic.bitstream.latent_coding.symbols import coder_table, range_model

    encoder = constriction.stream.queue.RangeEncoder()
    chunk = 1 << 16
    probs = np.broadcast_to(coder_table()[0], (chunk, coder_table().shape[1])).copy()
    symbols = np.zeros(chunk, dtype=np.int32)
    for start in range(0, n_latents, chunk):
        n = min(chunk, n_latents - start)
        encoder.encode(symbols[:n], range_model(), probs[:n])
    return encoder.get_compressed().astype("<u4").tobytes()


def _sections(data: bytes):
    from lnic.bitstream.container import unpack_file

    return unpack_file(data)


def repack(data: bytes, **changes) -> bytes:
    """``data`` with some of its sections (``weights``, ``latents``, ``escapes``) or header
    fields (``header``: a dict) replaced; section sizes and CRC follow."""
    from dataclasses import replace

    from lnic.bitstream.container import pack_file

    s = _sections(data)
    header = s.header
    for name, value in changes.pop("header", {}).items():
        if name in ("width", "height", "version"):
            header = replace(header, **{name: value})
        else:
            header = replace(header, arch=replace(header.arch, **{name: value}))
    parts = {"weights": s.weights, "latents": s.latents, "escapes": s.escapes, **changes}
    return pack_file(header, parts["weights"], parts["latents"], parts["escapes"])


def _escape_codes(escapes: bytes) -> list[int]:
    from lnic.bitstream.bits import BitReader, read_exp_golomb
    from lnic.bitstream.latent_coding.escapes import count_escape_codes
    from lnic.format import ESCAPE_BITS_MAX

    reader = BitReader(escapes)
    return [read_exp_golomb(reader, 0, ESCAPE_BITS_MAX) for _ in range(count_escape_codes(escapes))]


def _write_codes(codes: list[int]) -> bytes:
    from lnic.bitstream.bits import BitWriter, write_exp_golomb

    writer = BitWriter()
    for c in codes:
        write_exp_golomb(writer, c, 0)
    return writer.getvalue()


def _set_padding_bit(section: bytes, used_bits: int) -> bytes:
    """``section`` with its last padding bit (after ``used_bits``) set."""
    if used_bits % 8 == 0:
        raise ValueError("the section has no padding bits")
    out = bytearray(section)
    out[-1] |= 1
    return bytes(out)


class Entry(NamedTuple):
    """One corpus file: how it is made, what it tests and what decoding it must give."""

    name: str
    make: Callable[[], bytes]
    tests: str
    error: str | None = None
    """A fragment of the BitstreamError's message; None: the file decodes (exact pixels)."""


def _golden() -> bytes:
    return (DATA / "golden.lnic").read_bytes()


def _synthetic() -> bytes:
    return (DATA / "golden_synthetic.lnic").read_bytes()


def _weights_bits(data: bytes) -> int:
    from lnic.bitstream.weights import decode_weights, module_bits

    s = _sections(data)
    weights = decode_weights(s.weights, s.header.arch.weight_shapes())
    return sum(module_bits(m) for m in weights.modules().values())


def _bomb(height: int, width: int, keep: int, version: int | None = None) -> bytes:
    """A quiet file of the size with its latent section cut to ``keep`` bytes (and its header
    set to ``version``, whose table fixes the minimum)."""
    data = quiet_bitstream(height, width)
    header = {} if version is None else {"version": version}
    return repack(data, latents=_sections(data).latents[:keep], header=header)


def _with_escape(edit: Callable[[list[int]], list[int]]) -> bytes:
    data = _synthetic()
    return repack(data, escapes=_write_codes(edit(_escape_codes(_sections(data).escapes))))


def _negative_first(codes: list[int]) -> list[int]:
    return [-1 - codes[0], *codes[1:]]


def _padding_set(data: bytes) -> bytes:
    return repack(data, weights=_set_padding_bit(_sections(data).weights, _weights_bits(data)))


ENTRIES = [
    Entry(
        "tall_16x1024.lnic",
        lambda: crafted_bitstream(1024, 16, seed=3, spread=0.7),
        "a tall image (16 wide, 1024 high): raster-layout grids and the banded x2 row pass",
    ),
    Entry(
        "wide_1024x16.lnic",
        lambda: crafted_bitstream(16, 1024, seed=4, spread=0.7),
        "a wide image (1024 wide, 16 high): steps of few latents",
    ),
    Entry(
        "one_pixel_1x1.lnic",
        lambda: crafted_bitstream(1, 1, channels=1, seed=5, spread=3.0),
        "the smallest image the format allows: one latent grid of one latent",
    ),
    Entry(
        "extreme_weights.lnic",
        lambda: crafted_bitstream(20, 24, seed=6, arm_hidden=32, arm_layers=4, extreme=True),
        "every weight at +-2^15 with step 2^0 and latents up to +-4096: every clamp bites, the"
        " pass without clamps overflows (no warning may reach the user)",
    ),
    Entry(
        "bomb_4096x4096.lnic",
        lambda: _bomb(4096, 4096, 160),
        "a 406-byte file declaring 4096x4096: its latent section (160 bytes) is below the"
        " minimum for the latents declared (180 bytes with the 2^20 table)",
        "too short",
    ),
    Entry(
        "bomb_8000x5000.lnic",
        lambda: _bomb(5000, 8000, 400),
        "a 646-byte file declaring 40 megapixels (the format's limit; minimum 436 bytes of"
        " latents)",
        "too short",
    ),
    Entry(
        "bomb_4096x4096-v4.lnic",
        lambda: _bomb(4096, 4096, 240, version=4),
        "the quiet 4096x4096 file of version 5 (240 bytes of latents) labelled version 4: below"
        " version 4's minimum (its 2^16 table makes every latent cost at least 0.00106 bits:"
        " 2,960 bytes)",
        "too short",
    ),
    Entry(
        "over_limit_5000x4000.lnic",
        lambda: quiet_bitstream(4000, 5000),
        "a plausible minimal file of 20 megapixels: over the default max_pixels (16.8 M)",
        "exceeds the decoder's limit",
    ),
    Entry(
        "weights_extra_byte.lnic",
        lambda: repack(_golden(), weights=_sections(_golden()).weights + b"\x00"),
        "a zero byte after the weights records",
        "unread bits at the end of the network weights",
    ),
    Entry(
        "weights_padding_bit.lnic",
        lambda: _padding_set(_golden()),
        "a one in the bits that pad the weights section's last byte",
        "non-zero padding bits at the end of the network weights",
    ),
    Entry(
        "channels_3_to_1.lnic",
        lambda: repack(_golden(), header={"channels": 1}),
        "the header's channel count changed from 3 to 1 (fewer synthesis weights)",
        "unread bits at the end of the network weights",
    ),
    Entry(
        "synth_hidden_40_to_39.lnic",
        lambda: repack(_golden(), header={"synth_hidden": 39}),
        "the header's synthesis width changed from 40 to 39",
        "unread bits at the end of the network weights",
    ),
    Entry(
        "width_32_to_40.lnic",
        lambda: repack(_golden(), header={"width": 40}),
        "the header's width changed from 32 to 40: more latents than the section codes",
        "the latent section ends before the latents the header declares",
    ),
    Entry(
        "latents_extra_words.lnic",
        lambda: repack(_golden(), latents=_sections(_golden()).latents + bytes(8)),
        "two zero words after the range-coded latents",
        "unread data at the end of the latent section",
    ),
    Entry(
        "escape_extra_code.lnic",
        lambda: _with_escape(lambda codes: [*codes, 5]),
        "one escape code more than the escape symbols",
        "unused escape codes",
    ),
    Entry(
        "escape_negative.lnic",
        lambda: _with_escape(_negative_first),
        "an escape code of a negative magnitude (the encoder codes the residual's magnitude"
        " beyond 24, never negative)",
        "impossible escape code",
    ),
    Entry(
        "escape_extra_byte.lnic",
        lambda: repack(_synthetic(), escapes=_sections(_synthetic()).escapes + b"\x00"),
        "a zero byte after the escape codes",
        "unread bits at the end of the latent escape section",
    ),
    Entry(
        "escape_missing.lnic",
        lambda: repack(_synthetic(), escapes=b""),
        "escape symbols without their codes",
        "escape symbol without an escape code",
    ),
    Entry(
        "crc_mismatch.lnic",
        lambda: _golden()[:-1] + bytes([_golden()[-1] ^ 1]),
        "a checksum that does not match",
        "checksum mismatch",
    ),
]


def expected(entry: Entry, data: bytes) -> str:
    """The index's expectation: ``error: fragment`` or ``pixels: digest``."""
    if entry.error is not None:
        return f"error: `{entry.error}`"
    sys.path.insert(0, str(DATA))
    from make_golden import pixel_hash

    from lnic.decoder import decode_bytes

    return f"pixels: `{pixel_hash(decode_bytes(data))[:16]}`"


def _check_against_reference(data: bytes) -> None:
    sys.path.insert(0, str(DATA.parent))
    from test_golden import reference_decode

    from lnic.decoder import decode_bytes

    if not np.array_equal(decode_bytes(data), reference_decode(data)):
        raise AssertionError("the fast decoder and the reference decoder disagree")


README_HEAD = """# Hostile files

Crafted .lnic streams that `tests/test_hostile_files.py` decodes on every CI run, each against
the outcome listed here: `error:` a fragment of the `BitstreamError` message, `pixels:` the first
16 hex digits of the decoded pixels' SHA-256 (`make_golden.pixel_hash`). Every file but
`crc_mismatch.lnic` has a valid CRC-32, so it reaches the checks behind the checksum. Made by
`make_hostile.py` (which also checks the valid files against the reference decoder of
`tests/test_golden.py`); the committed files are the reference.

| file | bytes | expected | what it tests |
|---|---|---|---|
"""


def main() -> int:
    rows = []
    for entry in ENTRIES:
        data = entry.make()
        (HERE / entry.name).write_bytes(data)
        if entry.error is None:
            _check_against_reference(data)
        if "|" in entry.tests:
            raise ValueError(f"{entry.name}: a '|' would break the index's table")
        rows.append(f"| `{entry.name}` | {len(data)} | {expected(entry, data)} | {entry.tests} |")
        print(rows[-1])
    (HERE / "README.md").write_text(README_HEAD + "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
