"""The compiled (numba) latent-decoding loop and the numpy loop decode the same latents; the
choice between them; where the compiled kernels are cached."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import DECODE_LOOPS, random_arm, random_grids, skip_unless_loop

from lnic.bitstream import arm_kernels
from lnic.bitstream.latent_coding import decode_latents, encode_latents
from lnic.bitstream.latent_coding.buffers import RasterGrid, WaveGrid, make_grids
from lnic.format import SYMBOL_RADIUS
from lnic.model.latents import grid_shapes, num_levels

LOOPS = DECODE_LOOPS
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=LOOPS)
def loop(request, monkeypatch):
    """Every decode in the test runs with this loop."""
    skip_unless_loop(request.param)
    monkeypatch.setenv("LNIC_DECODE_LOOP", request.param)
    return request.param


def test_numba_kernels_load_when_installed():
    """numba is a dependency: the decoder's choice between the loops needs it."""
    assert arm_kernels.load() is not None


@pytest.mark.parametrize("size", [(16, 16), (37, 53), (64, 48), (300, 16), (2000, 16)])
@pytest.mark.usefixtures("loop")
def test_both_loops_round_trip(size):
    """Includes tall, narrow images whose finest grids use the raster layout (300x16: mixed
    steps; 2000x16: raster only)."""
    shapes = grid_shapes(*size, num_levels(*size))
    grids = random_grids(4, shapes, spread=2.0)
    grids[0][3, 5] = 5 * SYMBOL_RADIUS  # an escape code
    grids[-1][0, 0] = -2 * SYMBOL_RADIUS
    arm = random_arm(5)
    coded, escapes = encode_latents(grids, arm)
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))


def test_raster_layout_is_exercised():
    grids = make_grids(grid_shapes(300, 16, num_levels(300, 16)))
    assert isinstance(grids[0], RasterGrid) and isinstance(grids[-1], WaveGrid)


@pytest.mark.usefixtures("loop")
def test_both_loops_agree_on_corrupt_streams():
    """A damaged stream gives BitstreamError or some latents, never another exception."""
    from lnic.errors import BitstreamError

    shapes = grid_shapes(40, 56, 4)
    grids = random_grids(6, shapes, spread=3.0)
    arm = random_arm(7)
    coded, escapes = encode_latents(grids, arm)
    rng = np.random.default_rng(0)
    for _ in range(20):
        damaged = bytearray(coded)
        damaged[rng.integers(len(damaged))] ^= 1 << int(rng.integers(8))
        try:
            decode_latents(bytes(damaged), escapes, shapes, arm)
        except BitstreamError:
            pass


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.usefixtures("loop")
def test_both_loops_other_arm_depths(layers):
    shapes = grid_shapes(37, 53, 4)
    grids = random_grids(8, shapes)
    arm = random_arm(9, layers=layers)
    coded, escapes = encode_latents(grids, arm)
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))


@pytest.mark.usefixtures("loop")
def test_both_loops_with_clamps():
    """A saturating ARM makes the decoder's second pass (with clamps) run, in either loop."""
    shapes = grid_shapes(20, 20, 2)
    arm = random_arm(1, hidden=16)
    arm[0].weight[:, 11] = 4000  # the left neighbour: 4096 saturates the first layer
    grids = random_grids(2, shapes, spread=1.0)
    grids[0][3, 3] = 4096
    coded, escapes = encode_latents(grids, arm)
    decoded = decode_latents(coded, escapes, shapes, arm)
    assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))


def test_one_compilation_serves_every_arm_depth(monkeypatch):
    """The kernels take the ARM's layers as one flat array: decoding ARMs of 1 to 4 hidden
    layers adds no compiled signature (numba used to compile per depth, 2-2.5 s each)."""
    kernels = arm_kernels.load()
    if kernels is None:
        pytest.skip("numba is not installed")
    monkeypatch.setenv("LNIC_DECODE_LOOP", "compiled")
    shapes = grid_shapes(20, 24, 3)
    grids = random_grids(3, shapes)
    for layers in (1, 2, 3, 4):
        arm = random_arm(layers, hidden=6 + layers, layers=layers)
        coded, escapes = encode_latents(grids, arm)
        decoded = decode_latents(coded, escapes, shapes, arm)
        assert all(np.array_equal(a, b) for a, b in zip(grids, decoded))
    assert len(kernels.arm_step.signatures) == 1
    assert len(kernels.store_step.signatures) == 1


def test_the_loop_choice(monkeypatch):
    """The numpy loop unless the compiled one saves more than its start costs; savings the
    numpy loop forwent add up; once loaded, the kernels run wherever they are faster."""
    from lnic.bitstream.latent_coding import loop_choice

    costs = loop_choice.LoopCosts(
        numpy_step=20e-6,
        numpy_latent=0.18e-6,
        compiled_step=10e-6,
        compiled_latent=0.20e-6,
        warm_start=1.0,
        cold_start=8.0,
    )
    monkeypatch.setattr(loop_choice, "COSTS", costs)
    monkeypatch.delenv("LNIC_DECODE_LOOP", raising=False)
    monkeypatch.setenv("LNIC_NATIVE_DECODE", "0")  # (the C kernels: the next test)
    monkeypatch.setattr(arm_kernels, "AVAILABLE", True)
    monkeypatch.setattr(arm_kernels, "_loaded", None)
    monkeypatch.setattr(arm_kernels, "load", lambda: "kernels")
    monkeypatch.setattr(arm_kernels, "cache_warm", lambda: True)
    monkeypatch.setattr(loop_choice, "_forgone", 0.0)
    one_image = (1796, 524_256)  # steps and latents of a 768x512 image: saves 7.5 ms
    narrow = (200_000, 1_000_000)  # saves 1.8 s
    assert loop_choice.choose_kernels(*one_image) is None
    assert loop_choice.choose_kernels(*narrow) == "kernels"
    # many decodes of one size: the forgone savings pay for the start at last
    monkeypatch.setattr(loop_choice, "_forgone", 0.0)
    chosen = [loop_choice.choose_kernels(*one_image) for _ in range(200)]
    first = chosen.index("kernels")
    assert first == math.ceil(costs.warm_start / loop_choice.saving(*one_image)) - 1 == 133
    assert chosen[:first] == [None] * first
    # a cold cache costs a compilation
    monkeypatch.setattr(loop_choice, "_forgone", 0.0)
    monkeypatch.setattr(arm_kernels, "cache_warm", lambda: False)
    assert loop_choice.choose_kernels(*narrow) is None
    # loaded: the faster loop, no start to pay
    monkeypatch.setattr(arm_kernels, "_loaded", "kernels")
    assert loop_choice.choose_kernels(*one_image) == "kernels"
    assert loop_choice.choose_kernels(10, 10**7) is None  # large steps
    # forced, or numba disabled
    assert loop_choice.choose_kernels(10, 10**7, loop="compiled") == "kernels"
    assert loop_choice.choose_kernels(*narrow, loop="numpy") is None
    monkeypatch.setattr(arm_kernels, "AVAILABLE", False)
    assert loop_choice.choose_kernels(*narrow, loop="compiled") is None


def test_the_c_kernels_are_chosen_whenever_they_can_be_had(monkeypatch):
    """auto takes the C kernels when they load (even for one small image: they cost nothing to
    start once built), else the numba choice above; forced, they are the C kernels or the
    numpy loop."""
    from lnic.bitstream import c_kernels
    from lnic.bitstream.latent_coding import loop_choice

    monkeypatch.delenv("LNIC_DECODE_LOOP", raising=False)
    monkeypatch.setattr(c_kernels, "load", lambda: "c kernels")
    monkeypatch.setattr(arm_kernels, "load", lambda: "numba kernels")
    monkeypatch.setattr(arm_kernels, "AVAILABLE", True)
    assert loop_choice.choose_kernels(1796, 524_256) == "c kernels"
    assert loop_choice.choose_kernels(10, 100) == "c kernels"
    assert loop_choice.choose_kernels(10, 100, loop="compiled") == "numba kernels"
    assert loop_choice.choose_kernels(10, 100, loop="numpy") is None
    monkeypatch.setattr(c_kernels, "load", lambda: None)
    assert loop_choice.choose_kernels(10, 100, loop="c") is None
    monkeypatch.setattr(arm_kernels, "_loaded", "numba kernels")
    assert loop_choice.choose_kernels(200_000, 1_000_000) == "numba kernels"


_C_DECODE = """
import hashlib, json, sys
import lnic
from lnic.bitstream import c_kernels
image = lnic.decode(open(sys.argv[1], "rb").read())
print(json.dumps({
    "loaded": c_kernels.loaded(),
    "cached": sorted(p.name.split("-")[0] for p in c_kernels.library_path().parent.glob("*.so")),
    "pixels": hashlib.sha256(image.tobytes()).hexdigest(),
}))
"""


def _c_decode(tmp_path: Path, **env) -> tuple[dict, str]:
    env = {**os.environ, "LNIC_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT), **env}
    env.pop("LNIC_DECODE_LOOP", None)
    env.pop("LNIC_NATIVE_DECODE", None)
    golden = str(ROOT / "tests" / "data" / "golden.lnic")
    run = subprocess.run(
        [sys.executable, "-c", _C_DECODE, golden], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1]), run.stderr


def test_a_fresh_machine_builds_the_c_kernels_once_and_a_compilerless_one_decodes_alike(
    tmp_path,
):
    """The first decode builds the C kernels (latent decoding, synthesis) into $LNIC_CACHE_DIR
    and decodes with them; a failing compiler leaves the decoder on its numpy code, silently,
    with the same pixels."""
    import shutil

    if shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    built, _ = _c_decode(tmp_path / "a")
    assert built["loaded"] and built["cached"] == ["latent", "pixels"]
    again, _ = _c_decode(tmp_path / "a")
    assert again == built
    without, stderr = _c_decode(tmp_path / "b", CC="false")
    assert not without["loaded"] and without["cached"] == []
    assert without["pixels"] == built["pixels"]
    assert stderr == ""  # the same pixels, more slowly: nothing the user must act on


def test_the_c_source_takes_its_constants_from_python():
    """The segment table's columns, the block size and the range coder's precision come from
    -D flags (defined by c_kernels from arm_kernels and lnic.format), and the source refuses to
    compile without them."""
    import shutil

    from lnic.bitstream import c_kernels

    text = c_kernels.SOURCE.read_text()
    for name in ("BLOCK", "RANGE_CODER_PRECISION", *c_kernels._SEGMENT_COLUMNS):
        assert f"#define {name} " not in text
        assert any(flag.startswith(f"-D{name}=") for flag in c_kernels.defines())
    assert f"-DSEG_DST={arm_kernels.SEG_DST}" in c_kernels.defines()
    if shutil.which("gcc"):
        run = subprocess.run(
            ["gcc", "-fsyntax-only", str(c_kernels.SOURCE)], capture_output=True, text=True
        )
        assert run.returncode != 0 and "c_kernels.py" in run.stderr


_COLD_DECODE = """
import json, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "scipy":
            raise ImportError("no scipy here")
if sys.argv[2] == "no-scipy":
    sys.meta_path.insert(0, Refuse())
import lnic
from lnic.bitstream import arm_kernels
image = lnic.decode(open(sys.argv[1], "rb").read())
print(json.dumps({
    "numba": "numba" in sys.modules,
    "loaded": arm_kernels.loaded(),
    "warm": arm_kernels.cache_warm(),
    "pixels": __import__("hashlib").sha256(image.tobytes()).hexdigest(),
}))
"""


def _cold_decode(tmp_path: Path, loop: str, scipy: bool = True) -> dict:
    env = dict(os.environ, LNIC_CACHE_DIR=str(tmp_path / "cache"), LNIC_DECODE_LOOP=loop)
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("LNIC_NO_NUMBA", None)
    env["PYTHONPATH"] = str(ROOT)
    golden = str(ROOT / "tests" / "data" / "golden.lnic")
    run = subprocess.run(
        [sys.executable, "-c", _COLD_DECODE, golden, "scipy" if scipy else "no-scipy"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0 and run.stderr == "", run.stderr
    return json.loads(run.stdout.splitlines()[-1])


@pytest.mark.parametrize("scipy", [True, False], ids=["blas", "loops"])
def test_kernels_are_cached_in_the_user_cache_folder(tmp_path, scipy):
    """A fresh process compiles the kernels into $LNIC_CACHE_DIR/numba, not into the package,
    with BLAS products where scipy is installed and loops where it is not (a decode-only
    install), each variant in its own folder; both decode the same pixels as the numpy loop."""
    if arm_kernels.load() is None:
        pytest.skip("numba is not installed")
    package = ROOT / "lnic" / "bitstream"
    before = {p: p.stat().st_mtime for p in package.rglob("*.nb*")}
    state = _cold_decode(tmp_path, "compiled", scipy=scipy)
    numpy_loop = _cold_decode(tmp_path, "numpy", scipy=scipy)
    assert state["pixels"] == numpy_loop["pixels"]
    del state["pixels"]
    assert state == {"numba": True, "loaded": True, "warm": True}
    cache = tmp_path / "cache" / "numba"
    variant = cache / ("blas" if scipy else "loops")
    assert list(variant.rglob("*arm_kernels*.nbi")) and list(cache.glob("ready-*"))
    assert not list((cache / ("loops" if scipy else "blas")).rglob("*.nbi"))
    assert {p: p.stat().st_mtime for p in package.rglob("*.nb*")} == before


def test_a_small_decode_does_not_import_numba(tmp_path):
    """The numpy loop decodes a small file faster than numba can start."""
    state = _cold_decode(tmp_path, "auto")
    assert state["numba"] is False and state["loaded"] is False


def test_a_changed_included_header_builds_a_new_library(tmp_path, monkeypatch):
    """The decoder libraries' cache key covers the header they include (exact_vec.h), so an
    edit of the shared floor or dense layer is never served from an old build."""
    from lnic import cbuild
    from lnic.bitstream import c_kernels
    from lnic.decoder import c_kernels as pixel_kernels

    assert c_kernels.EXACT_VEC in c_kernels.LIBRARY.includes
    assert c_kernels.EXACT_VEC in pixel_kernels.LIBRARY.includes
    monkeypatch.setenv("LNIC_CACHE_DIR", str(tmp_path / "cache"))
    unit, header = tmp_path / "k.c", tmp_path / "k.h"
    unit.write_text('#include "k.h"\n')
    header.write_text("#define A 1\n")
    library = cbuild.NativeLibrary("k", unit, ["-O2"], "test", includes=[header])
    before = library.path()
    header.write_text("#define A 2\n")
    assert library.path() != before
