"""Tests of the evaluation harness ``lnic bench`` (BD-rate, metrics, codecs, CSV, report, CLI)."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lnic.bench import BDError, bd_psnr, bd_rate, rate_gap
from lnic.bench.codecs import (
    CODECS,
    Codec,
    CodecUnavailable,
    LnicCodec,
    codec_name,
    get_codec,
    preset_of,
)
from lnic.bench.compare import mean_per_image_bd_rate, per_image_curve
from lnic.bench.curves import aggregate, curve_to_json, load_curve_file, load_per_image_table
from lnic.bench.data import default_anchors_dir, default_dataset_dir
from lnic.bench.metrics import ms_ssim, psnr_rgb, psnr_yuv
from lnic.bench.results import COLUMNS, Result, ResultsFile, load_results
from lnic.bench.runner import run_benchmark

ANCHORS = default_anchors_dir() or Path("no-shared-anchors")
KODAK = default_dataset_dir() or Path("no-shared-kodak")

needs_anchors = pytest.mark.skipif(
    not (ANCHORS / "kodak.json").exists(), reason="shared anchors not found (see LNIC_SHARED)"
)


@pytest.fixture(scope="module")
def published() -> dict:
    return json.loads((ANCHORS / "kodak.json").read_text())["codecs"]


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A 64x96 textured image (a Kodak crop if available, else synthetic)."""
    path = KODAK / "kodim23.png"
    if path.exists():
        from PIL import Image

        rgb = np.asarray(Image.open(path).convert("RGB"))
        return np.ascontiguousarray(rgb[180:244, 280:376])
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:64, 0:96]
    base = np.stack([xx * 2, yy * 3, (xx + yy) * 1.5], axis=-1) + rng.normal(0, 8, (64, 96, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- BD-rate


@needs_anchors
@pytest.mark.parametrize(
    ("codec", "expected"),
    [
        ("hm", 23.3),
        ("bpg444", 22.0),
        ("av1", 16.2),
        ("webp", 78.7),
        ("jpeg2000", 98.0),
        ("jpeg", 208.5),
        ("mbt2018", 11.0),
        ("elic2022", -7.0),
        ("coolchic5", -6.6),
    ],
)
def test_bd_rate_reproduces_reference_figures(published, codec, expected):
    vtm, test = published["vtm"], published[codec]
    got = bd_rate(vtm["bpp"], vtm["psnr-rgb"], test["bpp"], test["psnr-rgb"])
    assert got == pytest.approx(expected, abs=0.3)


def test_bd_rate_of_curve_against_itself_is_zero():
    bpp = [0.1, 0.25, 0.5, 1.0, 2.0]
    psnr = [26.0, 29.0, 32.5, 36.0, 40.0]
    assert bd_rate(bpp, psnr, bpp, psnr) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(bpp, psnr, bpp, psnr) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_known_shifts():
    bpp = np.array([0.1, 0.25, 0.5, 1.0, 2.0])
    psnr = np.array([26.0, 29.0, 32.5, 36.0, 40.0])
    assert bd_rate(bpp, psnr, 0.9 * bpp, psnr) == pytest.approx(-10.0, abs=1e-6)
    assert bd_rate(bpp, psnr, 1.25 * bpp, psnr) == pytest.approx(25.0, abs=1e-6)
    assert bd_psnr(bpp, psnr, bpp, psnr + 0.5) == pytest.approx(0.5, abs=1e-9)
    # order of points does not matter
    assert bd_rate(bpp[::-1], psnr[::-1], 0.9 * bpp, psnr) == pytest.approx(-10.0, abs=1e-6)


def test_bd_rate_within_a_psnr_range_sees_only_that_range():
    bpp = np.array([0.1, 0.25, 0.5, 1.0, 2.0])
    psnr = np.array([26.0, 29.0, 32.5, 36.0, 40.0])
    test = bpp.copy()
    test[3:] *= 1.5  # worse above 32.5 dB; PCHIP slopes reach one point back, to 29 dB
    assert bd_rate(bpp, psnr, test, psnr, psnr_range=(26.0, 29.0)) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(bpp, psnr, test, psnr) > 5.0
    with pytest.raises(BDError):
        bd_rate(bpp, psnr, test, psnr, psnr_range=(41.0, 45.0))


def test_rate_gap_of_single_points():
    bpp = [0.1, 0.25, 0.5, 1.0, 2.0]
    psnr = [26.0, 29.0, 32.5, 36.0, 40.0]
    assert rate_gap(bpp, psnr, 0.5, 32.5) == pytest.approx(0.0, abs=1e-9)
    assert rate_gap(bpp, psnr, 1.0, 32.5) == pytest.approx(100.0, abs=1e-9)
    assert rate_gap(bpp, psnr, 0.4, 32.5) == pytest.approx(-20.0, abs=1e-9)
    # between anchor points log-rate is interpolated: about 0.67 bpp at 34 dB here
    assert 10.0 < rate_gap(bpp, psnr, 0.8, 34.0) < 30.0
    with pytest.raises(BDError):  # no extrapolation
        rate_gap(bpp, psnr, 0.05, 24.0)


def test_bd_rate_errors():
    with pytest.raises(BDError):
        bd_rate([0.1], [30.0], [0.1, 0.2], [30.0, 32.0])
    with pytest.raises(BDError):  # no PSNR overlap
        bd_rate([0.1, 0.2], [20.0, 22.0], [0.1, 0.2], [30.0, 32.0])
    with pytest.raises(BDError):
        bd_rate([0.0, 0.2], [20.0, 22.0], [0.1, 0.2], [20.0, 22.0])


@needs_anchors
def test_per_image_bd_rate_coolchic_vs_vtm23():
    vtm = load_per_image_table(ANCHORS / "kodak-vtm23-per-image.csv")
    cc5 = load_per_image_table(ANCHORS / "kodak-coolchic5-per-image.tsv")
    assert len(vtm) == 24 and "kodim01" in vtm and "kodim01" in cc5
    per_image = mean_per_image_bd_rate(vtm, cc5)
    assert per_image.images == 24
    assert per_image.mean == pytest.approx(-4.7, abs=0.2)
    assert per_image.low == pytest.approx(-16.1, abs=0.2)
    assert per_image.high == pytest.approx(7.3, abs=0.2)
    a, b = per_image_curve("vtm23", vtm), per_image_curve("cc5", cc5)
    assert bd_rate(a.bpp, a.psnr_rgb, b.bpp, b.psnr_rgb) == pytest.approx(-6.5, abs=0.2)


# --------------------------------------------------------------------------- metrics


def test_psnr_identical_and_known_mse(image):
    assert psnr_rgb(image, image) == math.inf
    assert psnr_yuv(image, image) == math.inf
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + np.uint8(5)  # MSE 25
    assert psnr_rgb(a, b) == pytest.approx(10 * math.log10(255**2 / 25))
    c = a.copy()
    c[..., 0] += 10  # only R: MSE over R, G, B = 100 / 3
    assert psnr_rgb(a, c) == pytest.approx(10 * math.log10(255**2 / (100 / 3)))


def test_psnr_yuv_matches_bt709_weighting(image):
    rng = np.random.default_rng(0)
    noisy = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    m = np.array([[0.2126, 0.7152, 0.0722], [-0.1146, -0.3854, 0.5], [0.5, -0.4542, -0.0458]])
    diff = (image.astype(float) - noisy.astype(float)) @ m.T
    ps = [10 * math.log10(255**2 / np.mean(diff[..., k] ** 2)) for k in range(3)]
    assert psnr_yuv(image, noisy) == pytest.approx((6 * ps[0] + ps[1] + ps[2]) / 8, abs=2e-3)


def test_ms_ssim_sanity():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (176, 200, 3), dtype=np.uint8)
    smooth = np.clip(np.cumsum(rng.normal(0, 3, (176, 200, 3)), axis=1) + 128, 0, 255).astype(
        np.uint8
    )
    assert ms_ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    light = np.clip(smooth + rng.normal(0, 2, smooth.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8)
    assert 1.0 > ms_ssim(smooth, light) > ms_ssim(smooth, heavy) > 0.0
    assert math.isnan(ms_ssim(x[:100], x[:100]))  # too small for 5 scales
    with pytest.raises(ValueError):
        ms_ssim(x, x[:, :100])


# --------------------------------------------------------------------------- codecs


@pytest.mark.parametrize("name", sorted(CODECS))
def test_classical_codec_round_trip(name, image):
    codec = get_codec(name)
    try:
        codec.check_available()
    except CodecUnavailable as exc:
        pytest.skip(str(exc))
    assert codec.version()
    assert len(codec.settings) >= 6
    mid = codec.settings[len(codec.settings) // 2]
    data = codec.encode(image, mid)
    assert isinstance(data, bytes) and len(data) > 0
    out = codec.decode(data)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert psnr_rgb(image, out) > 24.0
    # a better setting costs more bytes
    best = codec.settings[-1]
    assert len(codec.encode(image, best)) > len(codec.encode(image, codec.settings[0]))


def test_chroma_formats(image):
    """jpeg is 4:2:0, jpeg444, avif and heic are really 4:4:4."""
    import io

    from PIL import Image, JpegImagePlugin

    for name, sampling in (("jpeg", 2), ("jpeg444", 0)):
        with Image.open(io.BytesIO(get_codec(name).encode(image, "50"))) as im:
            assert JpegImagePlugin.get_sampling(im) == sampling
    avif = get_codec("avif")
    try:
        avif.check_available()
    except CodecUnavailable:
        pass
    else:
        data = avif.encode(image, "50")
        at = data.find(b"av1C")
        assert at > 0
        profile, flags = data[at + 5] >> 5, data[at + 6]
        assert profile == 1 and (flags >> 2) & 3 == 0  # High profile, no chroma subsampling
    heic = get_codec("heic")
    try:
        heic.check_available()
    except CodecUnavailable:
        return
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(heic.encode(image, "30")))
    assert heif.info["chroma"] == 444


def test_codec_specs_and_settings():
    assert codec_name(get_codec("lnic:fast")) == "lnic-fast"
    assert codec_name(get_codec("lnic")) == "lnic"
    assert codec_name(get_codec("lnic:default")) == "lnic"
    assert preset_of("lnic") == "default" and preset_of("lnic-slow") == "slow"
    assert preset_of("jpeg") is None
    with pytest.raises(ValueError):
        get_codec("nope")
    with pytest.raises(ValueError):
        get_codec("jpeg:fast")
    jpeg = get_codec("jpeg")
    assert jpeg.validate_setting("50.0") == "50"
    for bad in ("0", "101", "50.5", "x"):
        with pytest.raises(ValueError):
            jpeg.validate_setting(bad)
    assert get_codec("jxl").validate_setting("1.50") == "1.5"
    lnic_codec = get_codec("lnic:fast")
    assert lnic_codec.settings == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert lnic_codec.validate_setting("4") == lnic_codec.validate_setting("q4") == "q4"
    for bad in ("9", "q0", "q4.5", "x"):
        with pytest.raises(ValueError):
            lnic_codec.validate_setting(bad)


def test_lnic_codec_calls_public_api(monkeypatch, image):
    import lnic

    calls = []

    def fake_encode(rgb, quality=4, preset="default", **_):
        calls.append((quality, preset))
        return bytes([quality]) + rgb.tobytes()[:100]

    monkeypatch.setattr(lnic, "encode", fake_encode)
    monkeypatch.setattr(lnic, "decode", lambda _data: np.zeros((4, 4, 3), np.uint8))
    codec = LnicCodec("fast")
    assert codec.encode(image, "q3")[0] == 3
    assert calls == [(3, "fast")]
    assert codec.decode(b"x").shape == (4, 4, 3)


# --------------------------------------------------------------------------- results CSV


def _result(img: str, setting: str, bpp: float = 1.0) -> Result:
    return Result(img, "fake", setting, 8, 8, int(bpp * 8), bpp, 30.0 + bpp, 32.0, 0.95, 0.1, 0.01)


def test_csv_append_resume_and_truncated_line(tmp_path):
    rf = ResultsFile(tmp_path / "fake.csv")
    rf.append(_result("a", "1"))
    rf.append(_result("a", "2", 2.0))
    text = (tmp_path / "fake.csv").read_text()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert rf.done_keys() == {("a", "fake", "1"), ("a", "fake", "2")}
    # simulate a run killed in the middle of writing a row
    (tmp_path / "fake.csv").write_text(text + "b,fake,1,8,8,8,1.0,3")
    rows = load_results(tmp_path / "fake.csv")
    assert [r.key for r in rows] == [("a", "fake", "1"), ("a", "fake", "2")]
    rf2 = ResultsFile(tmp_path / "fake.csv")
    rf2.append(_result("b", "1"))
    lines = (tmp_path / "fake.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("b,fake,1,")
    assert all(len(line.split(",")) == len(COLUMNS) for line in lines)
    # infinite PSNR (lossless) survives the round trip; missing metrics are empty cells
    ResultsFile(tmp_path / "x.csv").append(Result("a", "x", "1", 1, 1, 1, 8.0, math.inf, math.inf))
    (row,) = load_results(tmp_path / "x.csv")
    assert row.to_row()[7] == "inf" and math.isinf(row.psnr_rgb) and math.isnan(row.ms_ssim)


def test_csv_foreign_file_is_read_not_appended(tmp_path):
    path = tmp_path / "lnic.csv"
    header = "image,codec,setting,width,height,bytes,bpp,psnr_rgb,encode_s,decode_s,mac_per_pixel"
    path.write_text(header + "\nkodim01,lnic,4,768,512,20000,0.40690104,31.5,60,0.5,1900\n")
    (row,) = load_results(path)
    assert row.codec == "lnic" and row.bpp == pytest.approx(0.40690104)
    assert math.isnan(row.ms_ssim) and row.extra["mac_per_pixel"] == "1900"
    with pytest.raises(ValueError):
        ResultsFile(path).append(_result("a", "1"))
    assert path.read_text().startswith(header)


# --------------------------------------------------------------------------- runner and report


class FakeCodec(Codec):
    """Quantises the image with a step (the setting), stores the step; fails on 'bad'."""

    name = "fake"
    description = "fake codec"
    default_settings = ("8", "32")

    def __init__(self, src: np.ndarray) -> None:
        self.src = src

    def encode(self, rgb, setting):
        if setting == "bad":
            raise RuntimeError("boom")
        return bytes([int(setting)]) * (rgb.size // int(setting))

    def decode(self, data):
        step = data[0]
        return (self.src // step * step).astype(np.uint8)

    def version(self):
        return "fake 1.0"


def test_runner_resumes_and_survives_failures(tmp_path, image):
    from lnic.bench.data import BenchImage

    codec = FakeCodec(image)
    images = [BenchImage("img1", image), BenchImage("img2", image)]
    s1 = run_benchmark(images, [codec], {"fake": ["8", "32", "bad"]}, tmp_path, progress=False)
    assert s1.done == 4 and len(s1.failed) == 2 and s1.skipped == 0
    s2 = run_benchmark(images, [codec], {"fake": ["8", "32"]}, tmp_path, progress=False)
    assert s2.done == 0 and s2.skipped == 4
    rows = load_results(tmp_path / "fake.csv")
    assert len(rows) == 4
    curves = aggregate(rows)
    assert curves["fake"].images == 2 and len(curves["fake"]) == 2
    assert curves["fake"].psnr_rgb[0] < curves["fake"].psnr_rgb[1]  # sorted by rate
    doc = curve_to_json(curves["fake"])
    assert set(doc) >= {"name", "description", "results"}
    assert len(doc["results"]["bpp"]) == len(doc["results"]["psnr-rgb"]) == 2


@needs_anchors
def test_report_includes_lnic_csv_and_anchors(tmp_path):
    from lnic.bench.report import write_report

    vtm = load_per_image_table(ANCHORS / "kodak-vtm23-per-image.csv")
    header = "image,codec,setting,width,height,bytes,bpp,psnr_rgb,encode_s,decode_s,mac_per_pixel"
    lines = [header]
    for img, (bpps, psnrs) in sorted(vtm.items()):
        for k, (b, p) in enumerate(zip(bpps, psnrs, strict=True)):
            b2 = b * 0.9  # 10% fewer bits than VTM-23.13 on every image
            lines.append(
                f"{img},lnic,{k + 1},768,512,{int(b2 * 768 * 512 / 8)},{b2},{p},9,0.2,1900"
            )
    (tmp_path / "lnic.csv").write_text("\n".join(lines) + "\n")
    report = write_report(tmp_path, ANCHORS)
    text = report.read_text()
    assert "| **lnic** |" in text and "1900" in text
    assert "per-image vs VTM-23.13" in text
    # the decoder-class peer's column, filled for lnic's row
    assert re.search(r"\| lnic \|[^|\n]+\|[^|\n]+\|[^|\n]+\| [+-]\d+\.\d%", text)
    assert "-10.0% (" in text  # mean per-image BD-rate against VTM-23.13
    assert (tmp_path / "rd-psnr.png").stat().st_size > 10000
    (curve,) = load_curve_file(tmp_path / "lnic.json")
    assert curve.name == "lnic" and len(curve) == 5 and curve.mac_per_pixel == 1900
    assert "(*)" not in text
    assert not (tmp_path / "rd-psnr-subset.png").exists()  # the same 24 images as the anchors

    # only 4 of the 24 images: flagged against the 24-image anchor, and compared with the
    # VTM-23.13 mean curve over the same 4 images
    subset = tmp_path / "subset"
    subset.mkdir()
    keep = {"kodim01", "kodim05", "kodim14", "kodim23"}
    picked = [ln for ln in lines[1:] if ln.split(",")[0] in keep]
    # and one image of a run under way, at one setting only: not in the subset
    partial = next(ln for ln in lines[1:] if ln.split(",")[0] == "kodim02")
    (subset / "lnic.csv").write_text("\n".join([header, *picked, partial]) + "\n")
    text = write_report(subset, ANCHORS).read_text()
    assert "(*)" in text
    assert "| lnic | -10.0% | -10.0% (" in text
    # and redrawn with the anchors averaged over its 4 images only
    assert "`rd-psnr-subset.png`" in text and "kodim01, kodim05, kodim14, kodim23" in text
    assert (subset / "rd-psnr-subset.png").stat().st_size > 10000
    from lnic.bench.report import collect, subset_curves

    drawn = {c.name: c for c in subset_curves(collect(subset, ANCHORS), keep)}
    assert set(drawn) == {"lnic", "vtm23", "coolchic5", "coolchic42"}
    assert all(c.images == 4 for c in drawn.values())
    # lnic's rows are VTM-23.13's points at 90% of the rate: so are the two mean curves
    assert drawn["lnic"].psnr_rgb == pytest.approx(drawn["vtm23"].psnr_rgb)
    assert drawn["lnic"].bpp == pytest.approx([0.9 * b for b in drawn["vtm23"].bpp], rel=1e-3)


# --------------------------------------------------------------------------- CLI


def test_cli_quick_end_to_end(tmp_path):
    out = tmp_path / "quick"
    cmd = [sys.executable, "-m", "lnic.cli", "bench", "--quick", "--no-progress", "-o", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - t0 < 60
    for name in ("jpeg", "webp"):
        with open(out / f"{name}.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == 4 and all(float(r["bpp"]) > 0 for r in rows)
        assert json.loads((out / f"{name}.json").read_text())["results"]["bpp"]
    assert (out / "report.md").exists() and (out / "rd-psnr.png").exists()
    info = json.loads((out / "run.json").read_text())
    assert "libjpeg" in info["codecs"]["jpeg"]["version"]
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "0 rows written, 8 already done" in again.stdout


def test_cli_errors_are_one_line(tmp_path):
    from lnic.cli import main

    assert main(["bench", "--dataset", str(tmp_path), "--codecs", "nope", "-o", str(tmp_path)]) == 1
    assert main(["bench", "--codecs", "jpeg", "-o", str(tmp_path)]) == 1  # no --dataset
    assert main(["bench", "--report", str(tmp_path / "missing")]) == 1


def test_cli_runs_lnic_preset_through_public_api(monkeypatch, tmp_path, image):
    from PIL import Image

    from lnic.cli import main

    data = tmp_path / "data"
    data.mkdir()
    Image.fromarray(image).save(data / "kodim99.png")
    seen = _fake_lnic(monkeypatch, image)
    out = tmp_path / "out"
    argv = ["bench", "--dataset", str(data), "--codecs", "lnic:fast,jpeg", "--no-anchors"]
    argv += ["--settings", "lnic:fast=2,4", "--settings", "jpeg=50", "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert sorted(seen) == [(2, "fast"), (4, "fast")]
    rows = load_results(out / "lnic-fast.csv")
    assert [(r.image, r.codec, r.setting) for r in rows] == [
        ("kodim99", "lnic-fast", "q2"),
        ("kodim99", "lnic-fast", "q4"),
    ]
    assert rows[0].bytes == 200 and rows[1].bytes == 400
    info = json.loads((out / "run.json").read_text())
    assert info["codecs"]["lnic-fast"]["settings"] == ["q2", "q4"]
    assert info["codecs"]["lnic-fast"]["preset"] == "fast"
    assert "lnic-fast" in (out / "report.md").read_text()


def test_parse_settings():
    from lnic.bench.options import parse_settings
    from lnic.errors import InputError

    codecs = [get_codec("jpeg"), get_codec("webp"), get_codec("lnic:fast")]
    s = parse_settings(["jpeg=10,20,20", "lnic:fast=1,3"], codecs)
    assert s["jpeg"] == ["10", "20"] and s["lnic-fast"] == ["q1", "q3"]
    assert s["webp"] == get_codec("webp").settings
    assert parse_settings(["5,50"], codecs[:2]) == {"jpeg": ["5", "50"], "webp": ["5", "50"]}
    with pytest.raises(InputError):
        parse_settings(["avif=10"], codecs)
    with pytest.raises(InputError):
        parse_settings(["jpeg=500"], codecs)


def _fake_lnic(monkeypatch, image) -> list[tuple[int, str]]:
    """Replace lnic.encode/decode by a fast stand-in; returns the list of encode calls."""
    import lnic

    calls = []

    def fake_encode(_rgb, quality=4, preset="default", **_):
        calls.append((quality, preset))
        return bytes([quality]) * (100 * quality)

    monkeypatch.setattr(lnic, "encode", fake_encode)
    monkeypatch.setattr(lnic, "decode", lambda data: (image // data[0] * data[0]).astype(np.uint8))
    return calls


def test_cli_resumes_lnic_rows_in_their_layout(monkeypatch, tmp_path, image):
    """The Kodak run's path: short rows named qN, resumed row by row, each with its commit."""
    from PIL import Image

    from lnic.bench.provenance import git_commit
    from lnic.bench.results import COLUMN_SETS
    from lnic.cli import main

    data = tmp_path / "data"
    data.mkdir()
    for name in ("kodim98", "kodim99"):
        Image.fromarray(image).save(data / f"{name}.png")
    out = tmp_path / "out"
    out.mkdir()
    short = COLUMN_SETS["short"]
    assert "ms_ssim" not in short and short[-1] == "commit"
    # a row made before, at another commit, and a killed run's partial line
    done = Result("kodim99", "lnic", "q4", 96, 64, 400, 0.52, 30.0, commit="abc1234")
    ResultsFile(out / "lnic.csv", short).append(done)
    with open(out / "lnic.csv", "a") as fh:
        fh.write("kodim99,lnic,q2,96,64,2")
    calls = _fake_lnic(monkeypatch, image)
    argv = ["bench", "--dataset", str(data), "--codecs", "lnic:default", "--no-anchors"]
    argv += ["--images", "kodim99", "--settings", "4,2", "--columns", "short", "-o", str(out)]
    assert main([*argv, "--no-progress", "--no-report"]) == 0
    assert calls == [(2, "default")]  # q4 was done, kodim98 not asked for
    text = (out / "lnic.csv").read_text()
    assert text.splitlines()[0] == ",".join(short)
    rows = load_results(out / "lnic.csv")
    assert [(r.image, r.setting, r.commit) for r in rows] == [
        ("kodim99", "q4", "abc1234"),
        ("kodim99", "q2", git_commit()),
    ]
    assert math.isnan(rows[1].ms_ssim)
    info = json.loads((out / "run.json").read_text())
    assert info["codecs"]["lnic"]["preset"] == "default"
    assert info["commit"] == info["codecs"]["lnic"]["commit"] == git_commit()
    assert "--images kodim99" in info["commands"][0] and "--columns short" in info["commands"][0]
    # the same command again has nothing left to do
    assert main([*argv, "--no-progress", "--no-report"]) == 0
    assert calls == [(2, "default")]
    # the report's JSON records the preset and the commits of the rows
    assert main(["bench", "--report", str(out), "--no-anchors"]) == 0
    doc = json.loads((out / "lnic.json").read_text())
    assert doc["preset"] == "default" and doc["commits"] == sorted(["abc1234", git_commit()])
    assert "`abc1234`" in (out / "report.md").read_text()


def test_csv_without_commit_column_gains_it(tmp_path):
    path = tmp_path / "lnic.csv"
    old = "image,codec,setting,width,height,bytes,bpp,psnr_rgb,encode_s,decode_s"
    path.write_text(old + "\nkodim01,lnic,q4,768,512,22978,0.46748861,29.265664,1,0.1\n")
    with pytest.raises(ValueError):  # asked for fewer columns than the file has
        ResultsFile(path, ("image", "codec", "setting", "bpp", "psnr_rgb")).columns()
    rf = ResultsFile(path)
    assert rf.columns() == (*old.split(","), "commit")
    rf.append(Result("kodim01", "lnic", "q2", 768, 512, 8042, 0.16, 25.7, commit="c0"))
    lines = path.read_text().splitlines()
    assert lines[0] == old + ",commit"
    assert lines[1] == "kodim01,lnic,q4,768,512,22978,0.46748861,29.265664,1.00000,0.10000,"
    assert lines[2].endswith(",c0")


def test_cli_option_errors_are_one_line(tmp_path, image, capsys):
    from PIL import Image

    from lnic.cli import main

    Image.fromarray(image).save(tmp_path / "kodim01.png")
    base = ["bench", "--dataset", str(tmp_path), "--codecs", "jpeg", "-o", str(tmp_path / "o")]
    assert main([*base, "--images", "kodim01,kodim77"]) == 1
    assert "kodim77" in capsys.readouterr().err
    assert main([*base, "--columns", "image,bpp"]) == 1
    assert main([*base, "--columns", "image,codec,setting,bpp,psnr_rgb,colour"]) == 1
    assert main(["bench", "--summary", str(tmp_path / "none.csv")]) == 1


@needs_anchors
def test_cli_summary_per_image_against_each_anchor(tmp_path, capsys):
    from lnic.cli import main

    vtm = load_per_image_table(ANCHORS / "kodak-vtm23-per-image.csv")
    rows = ["image,codec,setting,bpp,psnr_rgb"]
    for img in ("kodim01", "kodim05"):
        for k, (b, p) in enumerate(zip(*vtm[img], strict=True)):
            rows.append(f"{img},lnic,q{k + 1},{0.9 * b},{p}")
    (tmp_path / "lnic.csv").write_text("\n".join(rows) + "\n")
    assert main(["bench", "--summary", str(tmp_path / "lnic.csv")]) == 0
    text = capsys.readouterr().out
    assert "| image | points | BD-rate vs VTM-23.13 | BD-rate vs Cool-chic 5.0 |" in text
    assert "| kodim01 | 5 | -10.0% | " in text and "| kodim05 | 5 | -10.0% | " in text
    assert "| **mean** | | **-10.0%** | " in text
    assert "rate vs Cool-chic 5.0 at equal PSNR" in text
    # per setting: both images' points at 90% of VTM's rate, so -10% over 2 images each
    for k in range(1, 6):
        assert re.search(rf"\| q{k} \| 2 \| [0-9.]+ \| [0-9.]+ \| -10\.0% \(2\) \|", text)
    assert main(["bench", "--summary", str(tmp_path), "--codecs", "lnic:fast"]) == 1


def test_git_commit_and_what_makes_it_dirty():
    from lnic.bench.provenance import _changes_code, git_commit, machine_info, short_commit

    commit = git_commit()
    head = commit.removesuffix("-dirty")
    assert commit == "unknown" or (len(head) == 40 and all(c in "0123456789abcdef" for c in head))
    assert short_commit("0123456789" * 4 + "-dirty") == "0123456-dirty"
    assert _changes_code(" M lnic/decoder.py") and _changes_code("M  benchmarks/decode_speed.py")
    assert not _changes_code(" M benchmarks/kodak/lnic.csv")
    assert not _changes_code(" M README.md") and not _changes_code("R  a.md -> docs/b.md")
    assert {"platform", "processor", "cpu_count", "python"} <= set(machine_info())


def test_mean_curves_and_the_subset_plot_keep_the_same_images():
    """A run under way (one image at one setting) leaves that image out; a setting run on one
    image only leaves that setting out; the subset plot draws the images the curve averages."""
    from lnic.bench.curves import complete_rows
    from lnic.bench.report.inputs import ReportInputs
    from lnic.bench.report.subset import smallest_subset

    def row(image: str, setting: str) -> Result:
        return Result(image, "c", setting, 8, 8, 10, 0.1 * int(setting), 30.0 + int(setting))

    full = [row(f"img{i}", s) for i in range(4) for s in "1234"]
    under_way = full + [row("img4", "1")]
    assert {r.image for r in complete_rows(under_way)} == {"img0", "img1", "img2", "img3"}
    assert len(aggregate(under_way)["c"]) == 4
    extra = full + [row("img0", "5")]
    assert {r.setting for r in complete_rows(extra)} == {"1", "2", "3", "4"}
    assert aggregate(extra)["c"].images == 4
    wider = [Result(f"img{i}", "d", "1", 8, 8, 10, 0.1, 30.0) for i in range(6)]
    inputs = ReportInputs({}, {}, {}, {}, rows={"c": extra, "d": wider})
    assert smallest_subset(inputs) == ("c", {"img0", "img1", "img2", "img3"})
