"""The Pillow plugin: ``import lnic.pillow``, then ``Image.open("x.lnic")`` (lazy: size, mode and
ICC profile from the header) and ``im.save("x.lnic", quality=4, preset="fast")``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import lnic.pillow
from lnic.cli import main

DATA = Path(__file__).parent / "data"


@pytest.fixture
def fast_encoder(monkeypatch):
    """Every preset name gives a preset of 45 steps (x4 for these small images)."""
    import lnic.encoder.encode as encode_module
    from lnic.encoder.presets import NoisePhase, Preset, StraightThroughPhase

    tiny = Preset("test", (NoisePhase(40), StraightThroughPhase(5)))
    monkeypatch.setattr(encode_module, "get_preset", lambda _name: tiny)


@pytest.fixture
def decode_calls(monkeypatch) -> list[int]:
    """Counts the plugin's calls of the decoder."""
    calls: list[int] = []
    real = lnic.pillow.decode

    def counting(data):
        calls.append(len(data))
        return real(data)

    monkeypatch.setattr(lnic.pillow, "decode", counting)
    return calls


def _picture() -> np.ndarray:
    y, x = np.mgrid[0:40, 0:48]
    return np.stack([x * 5, y * 6, (x + y) * 2], axis=-1).astype(np.uint8)


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.usefixtures("fast_encoder")
def test_open_equals_lnic_decode_and_is_lazy(tmp_path, decode_calls):
    """``Image.open`` of a file written by ``lnic encode`` equals ``lnic decode``'s PNG."""
    Image.fromarray(_picture()).save(tmp_path / "in.png", icc_profile=SRGB)
    assert main(["encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "x.lnic")]) == 0
    assert main(["decode", str(tmp_path / "x.lnic"), "-o", str(tmp_path / "x.png")]) == 0
    with Image.open(tmp_path / "x.lnic") as im:
        assert (im.format, im.size, im.mode) == ("LNIC", (48, 40), "RGB")
        assert im.info["icc_profile"] == SRGB
        assert decode_calls == []  # nothing decoded yet
        pixels = np.asarray(im)
        assert len(decode_calls) == 1
    assert np.array_equal(pixels, np.asarray(Image.open(tmp_path / "x.png")))


def test_open_golden_files(decode_calls):
    for name, mode in (("golden.lnic", "RGB"), ("golden_synthetic.lnic", "L")):
        with Image.open(DATA / name) as im:
            assert im.mode == mode and "icc_profile" not in im.info
            assert np.array_equal(np.asarray(im), lnic.decode((DATA / name).read_bytes()))
    assert len(decode_calls) == 2


@pytest.mark.usefixtures("fast_encoder")
def test_save_writes_a_file_lnic_decode_reads(tmp_path):
    im = Image.fromarray(_picture())
    im.info["icc_profile"] = SRGB
    im.save(tmp_path / "y.lnic", quality=4, preset="fast")
    assert (tmp_path / "y.lnic").read_bytes()[:4] == b"LNIC"
    assert main(["decode", str(tmp_path / "y.lnic"), "-o", str(tmp_path / "y.png")]) == 0
    with Image.open(tmp_path / "y.png") as back:
        assert back.size == (48, 40) and back.info["icc_profile"] == SRGB
        rec = np.asarray(back).astype(float).reshape(-1, 3)
        ref = _picture().astype(float).reshape(-1, 3)
        for c in range(3):  # the picture, however roughly a 45-step encode fits it
            assert np.corrcoef(rec[:, c], ref[:, c])[0, 1] > 0.5
    Image.fromarray(_picture()).convert("L").save(tmp_path / "g.lnic", quality=2)
    assert Image.open(tmp_path / "g.lnic").mode == "L"


def test_save_refuses_alpha():
    import io

    with pytest.raises(OSError, match="alpha"):
        Image.new("RGBA", (32, 32)).save(io.BytesIO(), format="LNIC")


def test_a_damaged_file_is_an_oserror(tmp_path):
    data = bytearray((DATA / "golden.lnic").read_bytes())
    data[-1] ^= 1
    (tmp_path / "bad.lnic").write_bytes(bytes(data))
    with Image.open(tmp_path / "bad.lnic") as im:  # the header is fine: opening works
        with pytest.raises(OSError, match="checksum"):
            im.load()
    (tmp_path / "v9.lnic").write_bytes(b"LNIC\x09" + bytes(data[5:]))
    with pytest.raises(OSError, match="version"):
        Image.open(tmp_path / "v9.lnic")
