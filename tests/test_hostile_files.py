"""Files built to hurt the decoder: tall and wide images, bombs, inconsistent sections.

The committed corpus (``tests/data/hostile/``, listed in its README.md) is decoded file by file
against its expected outcome; the other tests build their hostile inputs on the fly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import DECODE_LOOPS, skip_unless_loop

from lnic.bitstream.container import unpack_file
from lnic.bitstream.latent_coding import decode as latent_decode
from lnic.bitstream.latent_coding.decode import min_coded_bytes
from lnic.decoder import DEFAULT_MAX_PIXELS, decode_bytes
from lnic.decoder.upsampling import FixedPointUpsampler
from lnic.decoder.validation import check_sections
from lnic.errors import BitstreamError
from lnic.format import SYNTH_ACT_CLAMP, SYNTH_FRAC_BITS
from lnic.model.latents import grid_shapes
from lnic.model.parts import UpsamplingWeights
from lnic.model.quantized import QuantizedLinear
from lnic.model.upsampling import upsample_integer

ROOT = Path(__file__).resolve().parents[1]
CATCH_ALL = "corrupt bitstream ("  # the message of decode_bytes' last-resort wrapper


def _upsampling_weights(levels: int, seed: int, gain: int = 0) -> UpsamplingWeights:
    rng = np.random.default_rng(seed)
    taps = np.array([[-6, -18, 58, 222]] * (levels - 1)) + rng.integers(-9, 10, (levels - 1, 4))
    taps[:, 3] += gain
    pre = np.array([[180, 40, -8, 6]] * levels) + rng.integers(-4, 5, (levels, 4))
    none = np.zeros(0, dtype=np.int64)
    return UpsamplingWeights(QuantizedLinear(taps, none, 8, 0), QuantizedLinear(pre, none, 8, 0))


def _upsampled(grids: list[np.ndarray], weights: UpsamplingWeights, step: int) -> np.ndarray:
    """The decoder's upsampled stack [levels, H, W], asked for in blocks of ``step`` rows."""
    up = FixedPointUpsampler(grids, weights)
    h, w = up.shape
    out = np.empty((up.levels, h, w))
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        up.rows(r0, r1, out[:, r0:r1])
    return out


@pytest.mark.parametrize(
    ("height", "width", "levels", "step", "gain"),
    [
        (37, 40, 4, 16, 0),
        (300, 16, 3, 16, 0),
        (16, 300, 3, 16, 0),
        (33, 21, 5, 7, 0),  # odd block starts, 1- and 2-row grids
        (9, 70, 4, 5, 6000),  # taps that reach the activation clamp
    ],
)
def test_upsampling_equals_the_integer_reference(height, width, levels, step, gain):
    rng = np.random.default_rng(height * width)
    shapes = grid_shapes(height, width, levels)
    grids = [np.round(rng.laplace(0, 30, s)) for s in shapes]
    grids[-1][0, 0] = 4096
    weights = _upsampling_weights(levels, seed=levels, gain=gain)
    want = upsample_integer(grids, weights, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    got = _upsampled(grids, weights, step)
    assert np.array_equal(got, want)
    if gain:
        assert np.abs(got).max() == SYNTH_ACT_CLAMP


def test_tall_image_upsampling_memory_is_linear():
    """A 16 x 4096 (W x H) image: no array of size height x height / 2 (the x2 row pass of the
    finest level would need 64 MiB dense); the whole upsampling stays within a few MiB."""
    height, width, levels = 4096, 16, 3
    grids = [np.zeros(s) for s in grid_shapes(height, width, levels)]
    weights = _upsampling_weights(levels, seed=1)
    tracemalloc.start()
    try:
        up = FixedPointUpsampler(grids, weights)
        block = np.empty((levels, 16, width))
        for r0 in range(0, height, 16):
            up.rows(r0, r0 + 16, block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the stack itself is levels * H * W * 8 = 1.5 MiB; the grids are not counted
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB"


# --- the committed corpus ----------------------------------------------------------------------

HOSTILE = Path(__file__).parent / "data" / "hostile"
sys.path[:0] = [str(HOSTILE), str(HOSTILE.parent)]
from make_golden import pixel_hash  # noqa: E402

_ROW = re.compile(r"^\| `(?P<name>[^`]+)` \| \d+ \| (?P<kind>error|pixels): `(?P<value>[^`]+)` \|")


def _index() -> dict[str, tuple[str, str]]:
    """file name -> (``error`` or ``pixels``, message fragment or pixel digest), from the
    corpus's README.md."""
    rows = {}
    for line in (HOSTILE / "README.md").read_text().splitlines():
        if m := _ROW.match(line):
            rows[m["name"]] = (m["kind"], m["value"])
    return rows


def test_the_index_lists_every_corpus_file():
    assert set(_index()) == {p.name for p in HOSTILE.glob("*.lnic")}
    assert len(_index()) >= 15


@pytest.mark.parametrize("loop", DECODE_LOOPS)
@pytest.mark.parametrize("name", sorted(_index()))
def test_corpus_file_gives_its_expected_outcome(name, loop, monkeypatch):
    skip_unless_loop(loop)
    monkeypatch.setenv("LNIC_DECODE_LOOP", loop)
    kind, value = _index()[name]
    data = (HOSTILE / name).read_bytes()
    if kind == "pixels":
        assert pixel_hash(decode_bytes(data))[:16] == value
    else:
        with pytest.raises(BitstreamError) as info:
            decode_bytes(data)
        assert value in str(info.value)
        assert not str(info.value).startswith(CATCH_ALL), str(info.value)


# --- decompression bombs -------------------------------------------------------------------------


class _Reached(Exception):
    """Raised where a check should have stopped the decoder."""


def _no_latent_decoding(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise _Reached("the decoder went on to decode the latents")

    monkeypatch.setattr(latent_decode, "make_grids", refuse)


@pytest.mark.parametrize(
    "name", ["bomb_4096x4096.lnic", "bomb_8000x5000.lnic", "bomb_4096x4096-v4.lnic"]
)
def test_bombs_are_refused_before_any_work(name, monkeypatch):
    """A few hundred bytes cannot code the latents of a 16- or 40-megapixel image (nor a few
    kilobytes under version 4's coarser table): refused from the header and the section sizes,
    before a grid is allocated."""
    _no_latent_decoding(monkeypatch)
    with pytest.raises(BitstreamError, match="too short"):
        decode_bytes((HOSTILE / name).read_bytes(), max_pixels=None)


def test_the_latent_section_minimum_is_tight():
    """The minimum is near what the smallest possible file of the size really has: the quiet
    file of 4096x4096 (all latents the likeliest symbol) is accepted and at most 35% above it
    (240 bytes against 180: constriction's 24-bit quantization of the 2^20 table gives the
    likeliest symbol a little less than the table does, which the bound cannot count on)."""
    from make_hostile import quiet_bitstream

    data = quiet_bitstream(4096, 4096)
    sections = unpack_file(data)
    shapes = grid_shapes(4096, 4096, sections.header.arch.levels)
    n_latents = sum(h * w for h, w in shapes)
    need = min_coded_bytes(n_latents)
    assert need <= len(sections.latents) <= 1.35 * need
    check_sections(sections)
    for name, version in (("bomb_4096x4096.lnic", 5), ("bomb_4096x4096-v4.lnic", 4)):
        bomb = unpack_file((HOSTILE / name).read_bytes())
        assert bomb.header.version == version
        assert len(bomb.latents) < min_coded_bytes(n_latents, bomb.header.prob_bits)
    assert min_coded_bytes(n_latents, 16) > 10 * need


def test_max_pixels_bounds_the_image_size(monkeypatch):
    from make_hostile import quiet_bitstream

    assert DEFAULT_MAX_PIXELS == 1 << 24
    data = quiet_bitstream(64, 48)
    with pytest.raises(BitstreamError, match="exceeds the decoder's limit of 3071 pixels"):
        decode_bytes(data, max_pixels=3071)
    assert decode_bytes(data, max_pixels=3072).shape == (64, 48, 3)
    # over the default, a plausible file is refused before any work, and accepted without limit
    big = (HOSTILE / "over_limit_5000x4000.lnic").read_bytes()
    _no_latent_decoding(monkeypatch)
    with pytest.raises(BitstreamError, match="exceeds the decoder's limit of 16777216 pixels"):
        decode_bytes(big)
    with pytest.raises(BitstreamError, match="went on to decode the latents"):
        decode_bytes(big, max_pixels=None)


# --- strict parsing: valid files still decode ----------------------------------------------------


@pytest.mark.parametrize("loop", DECODE_LOOPS)
@pytest.mark.parametrize(
    "case",
    [
        dict(height=37, width=40, channels=1, spread=6.0),  # escapes
        dict(height=16, width=16, levels=1, spread=0.0),  # one grid, all zero
        dict(height=50, width=19, arm_layers=1, arm_hidden=5, synth_hidden=3, spread=2.0),
        dict(height=23, width=70, arm_layers=4, arm_hidden=20, spread=30.0),  # many escapes
        dict(height=3, width=2, channels=1, spread=1.0),
    ],
)
def test_fresh_valid_files_decode_exactly(case, loop, monkeypatch):
    """Files from the real latent and weight coders pass every strictness check, in both
    loops, and decode to the reference decoder's pixels."""
    from make_hostile import crafted_bitstream
    from test_golden import reference_decode

    skip_unless_loop(loop)
    monkeypatch.setenv("LNIC_DECODE_LOOP", loop)
    data = crafted_bitstream(seed=len(str(case)), **case)
    assert np.array_equal(decode_bytes(data), reference_decode(data))


def test_a_fresh_encode_decodes(small_image, tiny_preset):
    """The encoder's own output passes the strict decoder (the CLI's path: decode_bytes)."""
    from lnic.encoder.encode import encode_array

    result = encode_array(small_image[:32, :40], quality=4, preset=tiny_preset, seed=0)
    assert decode_bytes(result.bitstream).shape == (32, 40, 3)


# --- no warnings reach the user ------------------------------------------------------------------


@pytest.mark.parametrize("loop", DECODE_LOOPS)
def test_extreme_file_decodes_without_warnings(loop, monkeypatch):
    skip_unless_loop(loop)
    monkeypatch.setenv("LNIC_DECODE_LOOP", loop)
    data = (HOSTILE / "extreme_weights.lnic").read_bytes()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decode_bytes(data)
    assert not caught, [str(w.message) for w in caught]


def test_cli_decode_without_numba_prints_nothing_on_stderr(tmp_path):
    """``LNIC_NO_NUMBA=1 lnic decode`` of a valid file whose first pass overflows: stderr stays
    empty (it used to print numpy's RuntimeWarnings)."""
    out = tmp_path / "out.png"
    env = dict(os.environ, LNIC_NO_NUMBA="1", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    run = subprocess.run(
        [sys.executable, "-m", "lnic.cli", "decode", str(HOSTILE / "extreme_weights.lnic")]
        + ["-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert out.exists()
