"""The conventions of the command line and the Python API: --quiet, --threads, --max-pixels, exit
codes, help that teaches, docs/cli.md generated from the parser, clear TypeErrors, statistics
with the bytes.

The tests of --size, --bpp and --steps need the encoder's keyword arguments of the same names
(``encode_array(..., target_bytes=, target_bpp=, steps=)``, branch p2-encoder): they are
skipped until it has them.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lnic
from lnic.cli import main
from lnic.encoder.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
GOLDEN = (DATA / "golden.lnic").read_bytes()  # 32x24 RGB


@pytest.fixture
def golden(tmp_path) -> Path:
    src = tmp_path / "in.lnic"
    src.write_bytes(GOLDEN)
    return src


@pytest.fixture
def tiny():
    from lnic.encoder.presets import NoisePhase, Preset, StraightThroughPhase

    return Preset("test", (NoisePhase(40), StraightThroughPhase(5)))


@pytest.fixture
def picture(tmp_path) -> Path:
    y, x = np.mgrid[0:32, 0:40]
    path = tmp_path / "in.png"
    Image.fromarray(np.stack([x * 6, y * 7, (x + y) * 3], -1).astype(np.uint8)).save(path)
    return path


def _encoder_offers(name: str) -> bool:
    from lnic.encoder.encode import encode_array

    return name in inspect.signature(encode_array).parameters


def needs_encoder_option(name: str):
    return pytest.mark.skipif(
        not _encoder_offers(name), reason=f"encode_array has no {name} yet (branch p2-encoder)"
    )


# --- output on the terminal ----------------------------------------------------------------


def test_quiet_prints_nothing(golden, tmp_path, capsys):
    assert main(["decode", str(golden), "-o", str(tmp_path / "a.png")]) == 0
    assert "decoded in" in capsys.readouterr().out
    assert main(["decode", str(golden), "-o", str(tmp_path / "b.png"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["info", str(golden), "--quiet", "--json"]) == 0  # --json is still printed
    assert json.loads(capsys.readouterr().out)["icc_profile_bytes"] == 0


def test_decode_writes_png_at_the_fast_zlib_level(golden, tmp_path):
    """The PNG's zlib stream says its level (FLEVEL 0: fastest); the default would be 2."""
    out = tmp_path / "a.png"
    assert main(["decode", str(golden), "-o", str(out), "--quiet"]) == 0
    data = out.read_bytes()
    idat = data.index(b"IDAT") + 4
    assert data[idat] & 0x0F == 8  # deflate
    assert data[idat + 1] >> 6 == 0, f"zlib level flag {data[idat + 1] >> 6}"


def test_decode_json_reports_format_and_profile(golden, tmp_path, capsys):
    assert main(["decode", str(golden), "-o", str(tmp_path / "a.tif"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (report["format"], report["width"], report["height"]) == ("TIFF", 32, 24)
    assert report["icc_profile_bytes"] == 0


def test_threads_sets_every_library(golden, tmp_path, monkeypatch):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.setenv(var, "7")
    numba = sys.modules.get("numba")
    before = numba.get_num_threads() if numba else None
    try:
        assert main(["decode", str(golden), "-o", str(tmp_path / "a.png"), "--threads", "1"]) == 0
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "1"
        if numba:
            assert numba.get_num_threads() == 1
        else:
            assert os.environ["NUMBA_NUM_THREADS"] == "1"
    finally:
        if numba:
            numba.set_num_threads(before)


def test_threads_must_be_positive(golden, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["decode", str(golden), "-o", str(tmp_path / "a.png"), "--threads", "0"])
    assert exit_.value.code == 2


# --- exit codes ----------------------------------------------------------------------------


def test_usage_errors_exit_2(golden, capsys):
    for argv in (
        ["decode", str(golden)],
        ["decode", "--bogus"],
        ["encode", "x.png", "-o", "y"] + ["--size", "100", "--quality", "3"],
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
    capsys.readouterr()
    assert main([]) == 2


def test_interrupted_exits_130(golden, tmp_path, monkeypatch, capsys):
    import lnic.commands

    def interrupted(_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(lnic.commands, "cmd_decode", interrupted)
    assert main(["decode", str(golden), "-o", str(tmp_path / "a.png")]) == 130
    assert capsys.readouterr().err == "lnic decode: interrupted\n"


def test_a_closed_pipe_is_one_line_and_exit_1(tmp_path):
    sys.path.insert(0, str(DATA))
    from make_golden import synthetic_bitstream

    big = tmp_path / "big.lnic"  # a 400x300 noisy image: its PNG is larger than a pipe holds
    big.write_bytes(synthetic_bitstream(300, 400, channels=3, seed=5, spread=3.0, check=False))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lnic.cli", "decode", str(big), "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT)),
    )
    assert proc.stdout.read(8) == b"\x89PNG\r\n\x1a\n"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1
    assert err.splitlines() == ["lnic decode: error: -: cannot write (Broken pipe)"]


def test_encode_without_torch_says_how_to_install_it(picture, tmp_path):
    script = (
        "import sys\n"
        "class NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from lnic.cli import main\nsys.exit(main())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, "encode", str(picture), "-o", str(tmp_path / "x.lnic")],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith("lnic encode: error: encoding needs ")
    assert "pip install 'lnic[encode]'" in line


# --- --max-pixels --------------------------------------------------------------------------


def test_max_pixels_refuses_larger_files_before_decoding(golden, tmp_path, capsys):
    out = tmp_path / "a.png"
    assert main(["decode", str(golden), "-o", str(out), "--max-pixels", "767"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"lnic decode: error: {golden}: ") and "768 pixels" in err
    assert not out.exists()
    assert main(["decode", str(golden), "-o", str(out), "--max-pixels", "768"]) == 0
    with pytest.raises(lnic.errors.BitstreamError, match="768 pixels"):
        lnic.decode(GOLDEN, max_pixels=100)


# --- help and docs -------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["encode", "decode", "info"])
def test_help_teaches_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"lnic {command} " in text.split("examples:")[1]
    assert "- for standard input" in text


def test_main_help_lists_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "130"):
        assert f"\n  {code}" in text


def test_docs_cli_md_is_generated_from_the_parser():
    from lnic.clidoc import render

    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    python = ".".join(str(v) for v in sys.version_info[:2])
    if f"(Python {python})" not in committed:
        pytest.skip("docs/cli.md was generated by another Python (argparse's layout differs)")
    assert render() == committed, "run: python -m lnic.clidoc docs/cli.md"


# --- the Python API ------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["x.lnic", Path("x.lnic")])
def test_decode_of_a_path_is_a_type_error_that_says_what_to_pass(wrong):
    with pytest.raises(TypeError, match="the file's bytes, not a path"):
        lnic.decode(wrong)


def test_decode_takes_any_bytes_like_and_nothing_else():
    expected = lnic.decode(GOLDEN)
    assert np.array_equal(lnic.decode(bytearray(GOLDEN)), expected)
    assert np.array_equal(lnic.decode(memoryview(GOLDEN)), expected)
    with pytest.raises(TypeError, match="takes bytes"):
        lnic.decode(np.frombuffer(GOLDEN, np.uint8).tolist())


@pytest.mark.parametrize("wrong", ["photo.png", Path("photo.png"), b"\x89PNG"])
def test_encode_of_a_path_is_a_type_error(wrong):
    with pytest.raises(TypeError, match="uint8 array"):
        lnic.encode(wrong)


def test_encode_with_stats_returns_the_bytes_and_their_numbers(tiny):
    y, x = np.mgrid[0:32, 0:40]
    image = np.stack([x * 6, y * 7, (x + y) * 3], -1).astype(np.uint8)
    stats = lnic.encode_with_stats(image, quality=3, preset=tiny)
    assert isinstance(stats, lnic.EncodeStats) and stats.data[:4] == b"LNIC"
    decoded = lnic.decode(stats.data)
    assert stats.bpp == 8 * len(stats.data) / (32 * 40)
    mse = np.mean((decoded.astype(float) - image) ** 2)
    assert stats.psnr == pytest.approx(10 * np.log10(255**2 / mse))
    assert (stats.width, stats.height, stats.channels, stats.quality) == (40, 32, 3, 3)
    assert stats.seconds > 0 and stats.lmbda == 0.005 and stats.mac_per_pixel > 0
    assert sum(stats.section_bytes.values()) == len(stats.data)
    assert stats.summary["bytes"] == len(stats.data)


def test_one_rate_setting_at_a_time():
    with pytest.raises(lnic.errors.InputError, match="at most one"):
        lnic.encode(np.zeros((32, 32, 3), np.uint8), quality=3, target_bytes=1000)


# --- size targets and steps (the encoder's options) ------------------------------------------


@needs_encoder_option("steps")
def test_steps_sets_the_number_of_optimisation_steps(picture, tmp_path, capsys):
    out = tmp_path / "s.lnic"
    assert main(["encode", str(picture), "-o", str(out), "--steps", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    # the preset's trial or race of starts, where the picture gets one, runs on top
    noise = PRESETS["default"].with_steps(30).phases[0]
    extra = {0, noise.start_race_extra_steps, noise.start_race_small_extra_steps}
    extra |= {noise.finest_grid_trial_steps, noise.finest_grid_trial_early_steps}
    assert report["steps"] in {30 + n for n in extra} and out.stat().st_size == report["bytes"]


@needs_encoder_option("target_bytes")
@pytest.mark.parametrize("flag,key", [("--size", "target_bytes"), ("--bpp", "target_bpp")])
def test_size_targets_reach_the_encoder_and_the_report(picture, tmp_path, capsys, flag, key):
    out = tmp_path / "t.lnic"
    value = "600" if flag == "--size" else "4"
    argv = ["encode", str(picture), "-o", str(out), flag, value, "--steps", "60", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report[key] == pytest.approx(float(value)) and report["lmbda"] > 0
    assert out.stat().st_size == report["bytes"]
