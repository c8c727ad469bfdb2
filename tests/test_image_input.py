"""Images people have, as encoder input: phone photos (EXIF orientation, ICC profiles, HEIC),
16-bit PNGs, standard input, and oversized files refused from their header alone.

All inputs are made up here; encodes use a preset of a few dozen steps (seconds).
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from lnic.cli import main
from lnic.errors import InputError
from lnic.image_io import load_image

ROOT = Path(__file__).resolve().parents[1]
TINY_PRESET = (
    "from lnic.encoder.presets import NoisePhase, Preset, StraightThroughPhase\n"
    "TINY = Preset('test', (NoisePhase(150), StraightThroughPhase(10)))\n"
)


@pytest.fixture
def fast_encoder(monkeypatch):
    """Every preset name gives a preset of 160 steps (small images get the preset's steps)."""
    import lnic.encoder.encode as encode_module

    namespace: dict = {}
    exec(TINY_PRESET, namespace)
    monkeypatch.setattr(encode_module, "get_preset", lambda _name: namespace["TINY"])


def _upright(h: int = 48, w: int = 32) -> np.ndarray:
    """A picture whose orientation is obvious: bright top rows, a red left edge."""
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([60 + 0 * x, 60 + 0 * x, 60 + 0 * x], axis=-1).astype(np.uint8)
    image[: h // 3] = 230
    image[:, : w // 4, 0] = 250
    return image


def _is_upright(pixels: np.ndarray) -> bool:
    h, w = pixels.shape[:2]
    top, bottom = pixels[: h // 4].mean(), pixels[-h // 4 :].mean()
    red_left = pixels[h // 2 :, : w // 8, 0].mean() - pixels[h // 2 :, -w // 8 :, 0].mean()
    return top > bottom + 60 and red_left > 60


def _exif_jpeg(path: Path, upright: np.ndarray, orientation: int = 6) -> None:
    """Store ``upright`` as a camera would with orientation 6: the sensor's pixels are the
    upright picture turned 90 degrees counter-clockwise; viewers turn it back."""
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "lnic test camera"  # Make
    stored.save(path, quality=95, exif=exif.tobytes())


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
"""Made once: a profile's header holds its creation time."""


def _png16(array: np.ndarray) -> bytes:
    """A 16-bit PNG (colour type 2 for (H, W, 3), 0 for (H, W)) built by hand: Pillow cannot
    write 16-bit RGB."""
    h, w = array.shape[:2]
    colour_type = 2 if array.ndim == 3 else 0
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _decoded(path: Path) -> Image.Image:
    out = path.with_suffix(".rec.png")
    assert main(["decode", str(path), "-o", str(out), "--quiet"]) == 0
    return Image.open(out)


# --- photos --------------------------------------------------------------------------------


def test_exif_orientation_is_applied_when_reading(tmp_path):
    upright = _upright()
    _exif_jpeg(tmp_path / "photo.jpg", upright)
    image = load_image(tmp_path / "photo.jpg")
    assert image.pixels.shape == upright.shape
    assert _is_upright(image.pixels)
    assert any("EXIF" in note for note in image.notes)  # the camera name is dropped, said once


@pytest.mark.usefixtures("fast_encoder")
def test_a_jpeg_with_orientation_6_decodes_upright(tmp_path, capsys):
    _exif_jpeg(tmp_path / "photo.jpg", _upright())
    assert main(["encode", str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "p.lnic")]) == 0
    assert "EXIF" in capsys.readouterr().err
    rec = np.asarray(_decoded(tmp_path / "p.lnic"))
    assert rec.shape == (48, 32, 3)
    assert _is_upright(rec)


@pytest.mark.usefixtures("fast_encoder")
def test_the_icc_profile_travels_into_the_decoded_png(tmp_path):
    profile = SRGB
    Image.fromarray(_upright()).save(tmp_path / "in.png", icc_profile=profile)
    assert main(["encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "a.lnic")]) == 0
    assert _decoded(tmp_path / "a.lnic").info["icc_profile"] == profile
    out = tmp_path / "a.tiff"
    assert main(["decode", str(tmp_path / "a.lnic"), "-o", str(out)]) == 0
    assert Image.open(out).info["icc_profile"] == profile
    # without a profile in, none out
    Image.fromarray(_upright()).save(tmp_path / "plain.png")
    assert main(["encode", str(tmp_path / "plain.png"), "-o", str(tmp_path / "b.lnic")]) == 0
    assert "icc_profile" not in _decoded(tmp_path / "b.lnic").info


def test_a_profile_for_other_samples_is_dropped_with_a_note(tmp_path):
    gray = Image.fromarray(_upright()).convert("L")
    gray.save(tmp_path / "g.png", icc_profile=SRGB)  # an RGB profile on gray samples
    image = load_image(tmp_path / "g.png")
    assert image.icc_profile is None
    assert any("ICC profile" in note for note in image.notes)


@pytest.mark.usefixtures("fast_encoder")
def test_a_heic_photo_encodes(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    heif = pillow_heif.from_pillow(Image.fromarray(_upright()))
    heif.save(tmp_path / "photo.heic", quality=95)
    assert main(["encode", str(tmp_path / "photo.heic"), "-o", str(tmp_path / "h.lnic")]) == 0
    rec = np.asarray(_decoded(tmp_path / "h.lnic"))
    assert rec.shape == (48, 32, 3) and _is_upright(rec)


def test_a_heic_photo_with_orientation_6_is_turned_once(tmp_path):
    """pillow-heif applies the orientation itself (and resets the tag): no second turn."""
    pillow_heif = pytest.importorskip("pillow_heif")
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(_upright(), k=1)))
    exif = Image.Exif()
    exif[0x0112] = 6
    pillow_heif.from_pillow(stored).save(tmp_path / "o6.heic", quality=95, exif=exif.tobytes())
    pixels = load_image(tmp_path / "o6.heic").pixels
    assert pixels.shape == (48, 32, 3) and _is_upright(pixels)


def test_heic_without_pillow_heif_says_what_to_install(tmp_path, monkeypatch):
    import lnic.image_io

    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.from_pillow(Image.fromarray(_upright())).save(tmp_path / "p.heic")
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if "HEIF" not in k})
    monkeypatch.setattr(Image, "ID", [k for k in Image.ID if "HEIF" not in k])
    monkeypatch.setattr(lnic.image_io, "_register_heif", lambda: False)
    with pytest.raises(InputError, match="needs pillow-heif"):
        load_image(tmp_path / "p.heic")
    (tmp_path / "noise.bin").write_bytes(bytes(range(256)))
    with pytest.raises(InputError, match="not an image file"):
        load_image(tmp_path / "noise.bin")


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF", "BMP"])
def test_other_formats_pillow_reads_are_inputs(tmp_path, fmt):
    path = tmp_path / f"in.{fmt.lower()}"
    Image.fromarray(_upright()).save(
        path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {})
    )
    assert np.array_equal(load_image(path).pixels, _upright())


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.fromarray(_upright()).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    image = load_image(tmp_path / "c.jpg")
    assert image.pixels.shape == (48, 32, 3) and _is_upright(image.pixels)


# --- 16-bit input: reduced to 8 bits (the high byte), with a notice ---------------------------


def test_16_bit_rgb_png_keeps_the_high_byte_with_a_notice(tmp_path):
    rng = np.random.default_rng(1)
    wide = rng.integers(0, 65536, (20, 24, 3), dtype=np.uint16)
    (tmp_path / "deep.png").write_bytes(_png16(wide))
    image = load_image(tmp_path / "deep.png")
    assert np.array_equal(image.pixels, (wide >> 8).astype(np.uint8))
    assert [n for n in image.notes if "16-bit" in n] == [
        f"{tmp_path / 'deep.png'}: 16-bit samples reduced to 8 bits"
    ]


def test_16_bit_grayscale_png_keeps_the_high_byte(tmp_path):
    wide = (np.arange(20 * 24, dtype=np.uint16).reshape(20, 24) * 137).astype(np.uint16)
    (tmp_path / "deep.png").write_bytes(_png16(wide))
    image = load_image(tmp_path / "deep.png")
    assert np.array_equal(image.pixels, (wide >> 8).astype(np.uint8))
    assert any("16-bit" in note for note in image.notes)


@pytest.mark.usefixtures("fast_encoder")
def test_the_cli_prints_the_16_bit_notice_on_one_line(tmp_path, capsys):
    wide = np.repeat(np.linspace(0, 65535, 32, dtype=np.uint16)[None, :, None], 32, 0)
    (tmp_path / "deep.png").write_bytes(_png16(np.repeat(wide, 3, 2)))
    assert main(["encode", str(tmp_path / "deep.png"), "-o", str(tmp_path / "d.lnic")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "16-bit" in line]
    assert notes == [
        f"lnic encode: note: {tmp_path / 'deep.png'}: 16-bit samples reduced to 8 bits"
    ]
    assert (
        main(["encode", str(tmp_path / "deep.png"), "-o", str(tmp_path / "q.lnic"), "--quiet"]) == 0
    )
    assert capsys.readouterr() == ("", "")


def test_alpha_is_refused(tmp_path):
    Image.new("RGBA", (32, 32)).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="alpha"):
        load_image(tmp_path / "a.png")


# --- oversized images: refused from the header, without a warning ---------------------------


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` with almost no pixel data (a bomb's header)."""
    good = io.BytesIO()
    Image.new("RGB", (16, 16)).save(good, format="PNG")
    data = good.getvalue()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return data[:8] + chunk + data[8 + len(chunk) :]


def test_a_huge_png_is_refused_before_its_pixels_are_decoded(tmp_path, monkeypatch):
    (tmp_path / "huge.png").write_bytes(_png_header_only(8000, 8000))

    def no_decoding(_self):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not escape
        with pytest.raises(InputError, match="8000x8000.*maximum"):
            load_image(tmp_path / "huge.png")


def test_the_cli_refuses_a_huge_png_in_one_line(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(8000, 8000))
    run = subprocess.run(
        [sys.executable, "-m", "lnic.cli", "encode", str(path), "-o", str(tmp_path / "x.lnic")],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1
    limits = "the maximum is 16384 per side and 40000000 pixels"
    assert run.stderr.splitlines() == [f"lnic encode: error: {path} is 8000x8000; {limits}"]
    assert not (tmp_path / "x.lnic").exists()


# --- standard input ------------------------------------------------------------------------


def test_encode_from_standard_input(tmp_path):
    """``lnic encode - -o x.lnic < in.png`` in a real process (with a short preset)."""
    Image.fromarray(_upright()).save(tmp_path / "in.png")
    script = (
        "import sys\nimport lnic.encoder.encode as E\n"
        + TINY_PRESET
        + "E.get_preset = lambda _name: TINY\nfrom lnic.cli import main\nsys.exit(main())\n"
    )
    with open(tmp_path / "in.png", "rb") as stdin:
        run = subprocess.run(
            [sys.executable, "-c", script, "encode", "-", "-o", str(tmp_path / "x.lnic")],
            stdin=stdin,
            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT)),
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stderr
    assert _is_upright(np.asarray(_decoded(tmp_path / "x.lnic")))
