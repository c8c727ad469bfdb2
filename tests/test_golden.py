"""Golden bitstreams: committed files that must decode to committed pixel hashes.

Any drift of the format (header, weights, table, coding order) or of the decoder's integer
arithmetic changes these hashes. A deliberate format change regenerates the files with
``tests/data/make_golden.py`` and bumps ``FORMAT_VERSION``; the previous version's files stay
(``*-v4.lnic``) and must keep decoding to their pixels.

The files are also decoded by a slow, straightforward reference decoder written from
docs/format.md (per-wavefront context gathering, the model's ``arm_integer``,
``upsample_integer`` and ``synthesis_integer``, the table recomputed with :mod:`decimal`), which
must agree with the fast decoder pixel for pixel.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import constriction
import numpy as np
import pytest

import lnic
from lnic.bitstream.bits import BitReader, read_exp_golomb
from lnic.bitstream.container import unpack_file
from lnic.bitstream.prob_table import compute_frequency_table
from lnic.bitstream.recode import recode
from lnic.bitstream.weights import decode_weights
from lnic.decoder import Profiler, decode_bytes
from lnic.format import (
    ARM_CONTEXT,
    ARM_WAVEFRONT_SLOPE,
    ESCAPE_BITS_MAX,
    FORMAT_VERSION,
    GRID_LAG,
    SYMBOL_RADIUS,
    SYNTH_ACT_CLAMP,
    SYNTH_FRAC_BITS,
)
from lnic.model.arm import arm_integer
from lnic.model.latents import grid_shapes
from lnic.model.synthesis import synthesis_integer
from lnic.model.upsampling import upsample_integer

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from make_golden import pixel_hash, synthetic_bitstream  # noqa: E402

_REAL = ((24, 32, 3), "6f08a9ba877355ab205c033ca69a2bfb4a6b6ddc3de2a7b689328a035b6da7e3")
_SYNTHETIC = ((37, 40), "8e8fe6da8832ea00fa7d73ab3c9ea461601501f1c30d73b04903ba83c1743759")
GOLDEN = {
    # this version's files: version 4's latents re-coded (make_golden.py --recode), same pixels
    "golden.lnic": _REAL,
    "golden_synthetic.lnic": _SYNTHETIC,
    # version 4 (16-bit table)
    "golden-v4.lnic": _REAL,
    "golden_synthetic-v4.lnic": _SYNTHETIC,
}
"""Committed bitstream -> (decoded shape, pixel SHA-256)."""

PREVIOUS = {"golden.lnic": "golden-v4.lnic", "golden_synthetic.lnic": "golden_synthetic-v4.lnic"}


def reference_decode(data: bytes) -> np.ndarray:
    """Decode ``data`` the slow, obvious way, straight from docs/format.md."""
    s = unpack_file(data)
    h = s.header
    weights = decode_weights(s.weights, h.arch.weight_shapes())
    arm = weights.arm
    shapes = grid_shapes(h.height, h.width, h.arch.levels)
    levels = len(shapes)
    prob_bits = {3: 16, 4: 16, 5: 20}[h.version]  # docs/format.md, "Probability table"
    freqs = compute_frequency_table(prob_bits)  # [16, scales, 49]: residuals -R .. R
    # range-coder symbol s stands for residual 0, +1, -1, +2, -2, ..., +R, -R
    residual_of = [(s + 1) // 2 if s % 2 else -(s // 2) for s in range(2 * SYMBOL_RADIUS + 1)]
    table = freqs[:, :, [r + SYMBOL_RADIUS for r in residual_of]] / 2.0**prob_bits
    table = table.astype(np.float32)
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(s.latents, "<u4").copy())
    model = constriction.stream.model.Categorical(perfect=False)
    escapes = BitReader(s.escapes)
    grids = [np.zeros(shape) for shape in shapes]
    starts = [GRID_LAG * (levels - 1 - k) for k in range(levels)]
    slope = ARM_WAVEFRONT_SLOPE
    n_steps = max(st + w + slope * (hk - 1) for st, (hk, w) in zip(starts, shapes))
    for step in range(n_steps):
        for k in range(levels - 1, -1, -1):  # coarsest grid first
            hk, wk = shapes[k]
            t = step - starts[k]  # this grid's wavefront x + slope * y = t, by increasing y
            ys = np.array([y for y in range(hk) if 0 <= t - slope * y < wk], dtype=np.int64)
            if t < 0 or not len(ys):
                continue
            xs = t - slope * ys
            g = grids[k]
            ctx = np.zeros((len(ys), len(ARM_CONTEXT) + 1))
            for j, (dy, dx) in enumerate(ARM_CONTEXT):
                yy, xx = ys + dy, xs + dx
                ok = (yy >= 0) & (xx >= 0) & (xx < wk)
                ctx[ok, j] = g[yy[ok], xx[ok]]
            if k + 1 < levels:
                ctx[:, -1] = grids[k + 1][ys // 2, xs // 2]
            mu_q, scale = arm_integer(arm, ctx)
            sym = decoder.decode(model, table[mu_q & 15, scale])
            resid = np.array([residual_of[v] for v in sym], dtype=np.int64)
            for j in np.flatnonzero(np.abs(resid) >= SYMBOL_RADIUS):
                extra = read_exp_golomb(escapes, 0, max_prefix=ESCAPE_BITS_MAX)
                resid[j] += extra if resid[j] > 0 else -extra
            g[ys, xs] = (mu_q >> 4) + resid
    z = upsample_integer(grids, weights.upsampling, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    y = synthesis_integer(weights.synthesis, z, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    pixels = np.clip(np.floor(y * (255.0 * 2.0**-SYNTH_FRAC_BITS) + 0.5), 0, 255)
    image = pixels.astype(np.uint8).transpose(1, 2, 0)
    return image[:, :, 0] if h.channels == 1 else image


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_file_decodes_to_the_committed_pixels(name):
    shape, digest = GOLDEN[name]
    image = lnic.decode((DATA / name).read_bytes())
    assert image.shape == shape and image.dtype == np.uint8
    assert pixel_hash(image) == digest


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_fast_decoder_matches_the_reference_decoder(name):
    data = (DATA / name).read_bytes()
    assert np.array_equal(lnic.decode(data), reference_decode(data))


GOLDEN_FILE_DIGESTS = {
    "golden.lnic": "93f53989b8fd9b4f",
    "golden_synthetic.lnic": "f31d439e68a1c662",
    "golden-v4.lnic": "4fc143c7cecee4a3",
    "golden_synthetic-v4.lnic": "49bf8abee32458dc",
}
"""sha256 (first 16 hex digits) of each committed bitstream: ``make_golden.py`` rewrites the
files, and a rewrite must come with new digests here on purpose."""


def test_the_golden_files_are_of_the_versions_they_stand_for():
    versions = {name: (DATA / name).read_bytes()[4] for name in GOLDEN}
    assert versions == {name: 4 if "-v4" in name else FORMAT_VERSION for name in GOLDEN}


@pytest.mark.parametrize("name", sorted(PREVIOUS))
def test_recoding_the_previous_version_gives_the_golden_file(name):
    """This version's encoder, given the latents of the version 4 file, writes the committed
    file byte for byte: encoder and decoder agree on this version's table."""
    assert recode((DATA / PREVIOUS[name]).read_bytes()) == (DATA / name).read_bytes()


@pytest.mark.parametrize("name", sorted(PREVIOUS.values()))
def test_version_3_files_still_decode(name):
    """A version 3 file (the same sections as version 4 behind a header without the flags
    byte) decodes to the same pixels: version 4 only added optional metadata."""
    from dataclasses import replace

    from lnic.bitstream.container import pack_file

    s = unpack_file((DATA / name).read_bytes())
    old = pack_file(replace(s.header, version=3), s.weights, s.latents, s.escapes)
    assert old[4] == 3 and len(old) == len((DATA / name).read_bytes()) - 1
    assert pixel_hash(lnic.decode(old)) == GOLDEN[name][1]


def test_golden_files_are_unchanged():
    """The committed bitstreams themselves, byte for byte."""
    digests = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in sorted(DATA.glob("*.lnic"))
    }
    assert set(digests) == set(GOLDEN)
    assert digests == GOLDEN_FILE_DIGESTS


_DECODE_SCRIPT = """
import sys
sys.path.insert(0, {data!r})
import lnic
from make_golden import pixel_hash
for path in sys.argv[1:]:
    print(pixel_hash(lnic.decode(open(path, "rb").read())))
"""


def test_identical_pixels_across_threads_and_processes(tmp_path):
    """Fresh processes with 1 and 2 BLAS/OpenMP threads decode to the same pixels as this one."""
    medium = tmp_path / "medium.lnic"  # 256x192 RGB: large enough for multithreaded BLAS
    medium.write_bytes(synthetic_bitstream(192, 256, channels=3, seed=7, spread=2.0))
    paths = [str(medium), str(DATA / "golden.lnic")]
    expected = [pixel_hash(lnic.decode(Path(p).read_bytes())) for p in paths]
    script = _DECODE_SCRIPT.format(data=str(DATA))
    for threads in ("1", "2"):
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = threads
        run = subprocess.run(
            [sys.executable, "-c", script, *paths],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.stdout.split() == expected, f"{threads} thread(s)"


_LIGHT_DECODE_SCRIPT = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {{"torch", "scipy", "matplotlib"}}:
            raise ImportError("the decoder imported " + name)
sys.meta_path.insert(0, Refuse())
sys.path.insert(0, {data!r})
import lnic.decoder
from make_golden import pixel_hash
for path in sys.argv[1:]:
    print(pixel_hash(lnic.decoder.decode_bytes(open(path, "rb").read())))
"""


def test_decoding_needs_neither_torch_nor_scipy():
    """The decoder (with its numpy loop: numba's own BLAS binding loads scipy) decodes the
    golden files in a process that cannot import torch, scipy or matplotlib."""
    paths = [str(DATA / name) for name in sorted(GOLDEN)]
    run = subprocess.run(
        [sys.executable, "-c", _LIGHT_DECODE_SCRIPT.format(data=str(DATA)), *paths],
        env=dict(os.environ, LNIC_NO_NUMBA="1", OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [GOLDEN[name][1] for name in sorted(GOLDEN)]


def test_profiler_times_every_stage_and_changes_nothing():
    data = (DATA / "golden_synthetic.lnic").read_bytes()
    profiler = Profiler()
    image = decode_bytes(data, profiler=profiler)
    assert np.array_equal(image, decode_bytes(data))
    assert set(profiler.stages) == {"weights", "entropy_decoding", "upsampling", "synthesis"}
    timings = profiler.timings()
    assert set(timings) == {f"{s}{cpu}" for s in profiler.stages for cpu in ("", "_cpu")}
    assert all(v >= -1e-9 for v in timings.values())


def test_profiler_counts_nested_stages_once(monkeypatch):
    """A stage inside another (the upsampler's rows inside the synthesis) is not counted twice:
    the outer stage gets its own time only, and repeated stages add up."""
    import lnic.decoder.profiler as profiler_module

    class Clock:  # every reading advances one second
        now = 0.0

        def tick(self) -> float:
            self.now += 1.0
            return self.now

    clock = Clock()
    monkeypatch.setattr(
        profiler_module,
        "time",
        type("T", (), {"perf_counter": clock.tick, "process_time": clock.tick}),
    )
    profiler = Profiler()
    with profiler.stage("outer"):  # wall read at 1, cpu at 2
        for _ in range(2):
            with profiler.stage("inner"):  # reads 3, 4 / 5, 6, then 7, 8 / 9, 10
                pass
    # outer ends at wall 11, cpu 12: 10 s each, of which the inner stages took 2 x 2 s
    assert (profiler.stages["inner"].wall, profiler.stages["inner"].cpu) == (4.0, 4.0)
    assert (profiler.stages["outer"].wall, profiler.stages["outer"].cpu) == (6.0, 6.0)


@pytest.mark.parametrize("force_raster", [False, True])
def test_tall_narrow_grids_and_the_raster_layout(force_raster, monkeypatch):
    """Grids much taller than wide are decoded in a raster buffer (memory); same pixels."""
    from lnic.bitstream.latent_coding import buffers

    if force_raster:
        monkeypatch.setattr(buffers, "MAX_LAYOUT_RATIO", 0)
        monkeypatch.setattr(buffers, "LAYOUT_SLACK", 0)
    files = [synthetic_bitstream(300, 16, channels=1, seed=3, spread=2.0)]
    files += [(DATA / name).read_bytes() for name in sorted(GOLDEN)]
    for data in files:
        assert np.array_equal(lnic.decode(data), reference_decode(data))


@pytest.mark.parametrize("bits", [16, 20])
def test_shipped_table_equals_the_computed_one(bits):
    """prob_table_<bits>.npy (loaded by the decoder) is exactly what the decimal definition
    gives, for every precision a readable version uses."""
    from lnic.bitstream import prob_table

    assert bits in prob_table.SHIPPED_PRECISIONS
    shipped = prob_table._load_shipped(bits)
    assert shipped is not None, f"prob_table_{bits}.npy missing or altered"
    assert np.array_equal(shipped, compute_frequency_table(bits))
    assert np.array_equal(prob_table.frequency_table(bits), shipped)


@pytest.mark.parametrize("e", [0, 8, 15])
def test_fast_prefilter_equals_the_integer_reference(e):
    """The decoder's shifted-slice sums on float64 integers give the reference's exact integers,
    with large latents and taps that reach the activation clamp."""
    from lnic.decoder.upsampling import prefilter
    from lnic.format import LATENT_CLAMP
    from lnic.model.upsampling import prefilter_integer

    rng = np.random.default_rng(e)
    # several bands of rows (300 x 200), one-sample-wide and one-sample-tall grids
    shapes = [(300, 200), (19, 23), (10, 12), (5, 6), (3, 3), (1, 7), (6, 1), (1, 1)]
    grids = [np.round(rng.laplace(0, 40, s)) for s in shapes]
    grids[0][4, 5] = LATENT_CLAMP
    grids[1][0, 0] = -LATENT_CLAMP
    pre = rng.integers(-(1 << 15), (1 << 15) + 1, (len(shapes), 4)) >> (15 - e)
    pre[0] = [1 << 15, 1 << 15, 1 << 15, 1 << 15]  # gain 7 at e = 15: hits the clamp
    got = prefilter(grids, pre, e)
    want = prefilter_integer(grids, pre, e, SYNTH_FRAC_BITS, SYNTH_ACT_CLAMP)
    for a, b in zip(got, want):
        assert np.array_equal(a, b)
    assert any(np.abs(a).max() == SYNTH_ACT_CLAMP for a in got)
