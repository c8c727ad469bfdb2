"""Encode small images for real and check every reported number against the decoded file."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import lnic
from lnic.encoder.encode import encode_array, psnr


def test_api_encode_decode_reports_match_the_file(small_image, tiny_preset):
    result = encode_array(small_image, quality=4, preset=tiny_preset)
    decoded = lnic.decode(result.bitstream)
    assert decoded.shape == small_image.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, result.reconstruction)
    assert abs(psnr(decoded, small_image) - result.psnr_rgb) < 1e-9
    assert result.bpp == 8 * len(result.bitstream) / (64 * 48)
    assert result.psnr_rgb > 22.0  # a real fit, not noise
    assert result.mac_table["total"] <= 2000


def test_higher_quality_spends_more_bits(small_image, tiny_preset):
    low = encode_array(small_image, quality=1, preset=tiny_preset)
    high = encode_array(small_image, quality=7, preset=tiny_preset)
    assert len(high.bitstream) > len(low.bitstream)
    assert high.psnr_rgb > low.psnr_rgb


@pytest.mark.parametrize("shape", [(17, 23, 3), (16, 40), (33, 16, 3)])
def test_odd_sizes_and_grayscale(shape, kodak23, tiny_preset):
    image = np.ascontiguousarray(kodak23[100 : 100 + shape[0], 200 : 200 + shape[1]])
    if len(shape) == 2:
        image = np.ascontiguousarray(image.mean(axis=2).astype(np.uint8))
    result = encode_array(image, quality=5, preset=tiny_preset)
    decoded = lnic.decode(result.bitstream)
    assert decoded.shape == image.shape
    assert abs(psnr(decoded, image) - result.psnr_rgb) < 1e-9


def _lnic(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "lnic.cli", *args], capture_output=True, text=True, **kw
    )


def test_cli_encode_decode_info(tmp_path, small_image):
    src = tmp_path / "in.png"
    Image.fromarray(small_image).save(src)
    enc = _lnic(
        "encode",
        str(src),
        "-o",
        str(tmp_path / "a.lnic"),
        "--preset",
        "fast",
        "--quality",
        "3",
        "--json",
    )
    assert enc.returncode == 0, enc.stderr
    report = json.loads(enc.stdout.strip().splitlines()[-1])
    size = (tmp_path / "a.lnic").stat().st_size
    assert report["bpp"] == pytest.approx(8 * size / (64 * 48), abs=1e-12)
    dec = _lnic("decode", str(tmp_path / "a.lnic"), "-o", str(tmp_path / "rec.png"))
    assert dec.returncode == 0, dec.stderr
    rec = np.asarray(Image.open(tmp_path / "rec.png"))
    assert rec.shape == small_image.shape
    assert abs(psnr(rec, small_image) - report["psnr_rgb"]) < 0.01
    info = _lnic("info", "--json", str(tmp_path / "a.lnic"))
    meta = json.loads(info.stdout.strip().splitlines()[-1])
    assert (meta["width"], meta["height"]) == (48, 64)
    assert meta["mac_per_pixel"] == pytest.approx(report["mac_per_pixel"])
    assert meta["mac_per_pixel"] <= 2000


@pytest.mark.parametrize("kind", ["text", "rgba", "float", "tiny", "missing", "bad_output_name"])
def test_cli_refuses_bad_input_cleanly(tmp_path, kind):
    src = tmp_path / ("bad.tiff" if kind == "float" else "bad.png")
    if kind == "text":
        src.write_text("not an image")
    elif kind == "rgba":
        Image.new("RGBA", (32, 32)).save(src)
    elif kind == "float":
        Image.fromarray(np.zeros((32, 32), dtype=np.float32)).save(src)
    elif kind in ("tiny", "bad_output_name"):
        Image.new("RGB", (8, 8) if kind == "tiny" else (32, 32)).save(src)
    out = tmp_path / ("out.jpg" if kind == "bad_output_name" else "out.lnic")
    run = _lnic("encode", str(src), "-o", str(out), "--preset", "fast")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert (str(src) if kind != "bad_output_name" else str(out)) in run.stderr
    assert not out.exists() and list(tmp_path.glob("*.tmp")) == []


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    from lnic.outputs import replace_file

    old = os.umask(0o022)
    try:
        replace_file(tmp_path / "x.lnic", b"data")
    finally:
        os.umask(old)
    assert (tmp_path / "x.lnic").stat().st_mode & 0o777 == 0o644
