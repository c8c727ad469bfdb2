"""Damaged, foreign and hostile inputs to ``lnic decode`` and ``lnic info``.

Every case must end in one line ``lnic <command>: error: ...`` on stderr, a non-zero exit code,
no traceback, no output file and no temporary file left behind, within a few seconds. The cases
run through :func:`lnic.cli.main` in-process (fast); a few also run as real processes
(``python -m lnic.cli``) to check the wiring of exit codes and stderr.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lnic.bitstream.container import unpack_file
from lnic.bitstream.header import HEADER_FIELDS, HEADER_SIZE, field_offset
from lnic.cli import main
from lnic.decoder import decode_bytes
from lnic.errors import BitstreamError
from lnic.format import FLAG_ICC_PROFILE, FORMAT_VERSION, MAX_DIMENSION, MAX_PIXELS

DATA = Path(__file__).parent / "data"
GOLDEN = (DATA / "golden.lnic").read_bytes()
SYNTHETIC = (DATA / "golden_synthetic.lnic").read_bytes()


def with_crc(body: bytes) -> bytes:
    """``body`` (a file without its checksum) with a correct CRC-32 appended."""
    return body + struct.pack("<I", zlib.crc32(body))


def set_header(data: bytes, field: str, value: int) -> bytes:
    """Overwrite one header field (any value its bytes hold, checked or not) and recompute the
    checksum, so the field's check is reached."""
    body = bytearray(data[:-4])
    struct.pack_into("<" + HEADER_FIELDS[field], body, field_offset(field), value)
    return with_crc(bytes(body))


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def png_file() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


_SECTIONS = HEADER_SIZE  # first byte after the header

# name -> (file contents, a word the error message must contain)
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty"),
    "one_byte": (b"L", "magic"),
    "random_bytes": (np.random.default_rng(0).bytes(3000), "magic"),
    "png_file": (png_file(), "not an lnic file"),
    "text": (b"hello, world\n", "magic"),
    "wrong_magic": (b"LNIX" + GOLDEN[4:], "magic"),
    "unknown_version": (set_header(GOLDEN, "version", FORMAT_VERSION + 1), "version"),
    "version_zero": (set_header(GOLDEN, "version", 0), "version"),
    "truncated_magic": (GOLDEN[:3], "magic"),
    "truncated_version": (GOLDEN[:4], "truncated"),
    "truncated_header": (GOLDEN[: HEADER_SIZE - 1], "truncated"),
    "header_only": (GOLDEN[:HEADER_SIZE], "truncated"),
    "truncated_half": (GOLDEN[: len(GOLDEN) // 2], "truncated"),
    "truncated_last_byte": (GOLDEN[:-1], "truncated"),
    "trailing_data": (GOLDEN + b"\x00", "trailing"),
    "bitflip_header_size": (flip(GOLDEN, 8 * (field_offset("width") + 1) + 3), "checksum"),
    "bitflip_weights": (flip(GOLDEN, 8 * (_SECTIONS + 5) + 1), "checksum"),
    "bitflip_latents": (flip(GOLDEN, 8 * (len(GOLDEN) - 6)), "checksum"),
    "bitflip_crc": (flip(GOLDEN, 8 * len(GOLDEN) - 1), "checksum"),
    "absurd_size_60000": (set_header(set_header(GOLDEN, "width", 60000), "height", 60000), "size"),
    "too_many_pixels": (
        set_header(set_header(GOLDEN, "width", MAX_DIMENSION), "height", MAX_DIMENSION),
        "pixels",
    ),
    "zero_width": (set_header(GOLDEN, "width", 0), "size"),
    "bad_channels": (set_header(GOLDEN, "channels", 2), "channel"),
    "bad_levels": (set_header(GOLDEN, "levels", 9), "latent grids"),
    "bad_architecture": (set_header(GOLDEN, "arm_hidden", 0), "architecture"),
    "absurd_section_size": (set_header(GOLDEN, "weight_bytes", 0xFFFFFFFF), "truncated"),
    "latents_not_words": (
        set_header(
            set_header(GOLDEN, "latent_bytes", 3),
            "escape_bytes",
            len(GOLDEN) - HEADER_SIZE - 4 - 3 - unpack_file(GOLDEN).header.weight_bytes,
        ),
        "32-bit words",
    ),
    # a large declared image (within the limits) backed by a tiny file
    "large_image_tiny_file": (
        set_header(set_header(GOLDEN, "width", 6000), "height", 6000),
        "too short",
    ),
    # format 4's optional metadata: reserved flag bits, an ICC length past the end or zero
    "unknown_flags": (set_header(GOLDEN, "flags", 0x80), "flags"),
    "icc_flag_without_profile": (set_header(GOLDEN, "flags", FLAG_ICC_PROFILE), "ICC"),
    "icc_length_past_the_end": (
        with_crc(
            set_header(GOLDEN, "flags", FLAG_ICC_PROFILE)[:HEADER_SIZE]
            + struct.pack("<I", 1 << 20)
            + GOLDEN[HEADER_SIZE:-4]
        ),
        "truncated",
    ),
    "garbage_weights_valid_crc": (
        with_crc(GOLDEN[:_SECTIONS] + b"\x00" * (len(GOLDEN) - _SECTIONS - 4)),
        "weights",
    ),
}

# ``lnic info`` reads the header and the weights only: damage inside the latent section is
# found by ``decode``
INFO_ACCEPTS = {"large_image_tiny_file", "latents_not_words"}


def _assert_clean_failure(code: int, err: str, command: str, out: Path, word: str) -> None:
    lines = err.strip().splitlines()
    assert code != 0
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lnic {command}: error: "), lines[0]
    assert word.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_decode_refuses_bad_file(case, tmp_path, capsys):
    data, word = BAD_FILES[case]
    src = tmp_path / "in.lnic"
    src.write_bytes(data)
    out = tmp_path / "out.png"
    start = time.perf_counter()
    code = main(["decode", str(src), "-o", str(out)])
    assert time.perf_counter() - start < 10
    _assert_clean_failure(code, capsys.readouterr().err, "decode", out, word)


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_info_refuses_bad_file(case, tmp_path, capsys):
    data, word = BAD_FILES[case]
    src = tmp_path / "in.lnic"
    src.write_bytes(data)
    code = main(["info", str(src)])
    if case in INFO_ACCEPTS:
        assert code == 0
        return
    _assert_clean_failure(code, capsys.readouterr().err, "info", tmp_path / "none", word)


@pytest.mark.parametrize("case", ["missing_folder", "output_is_folder", "empty_path"])
def test_decode_refuses_unwritable_output(case, tmp_path, capsys):
    src = tmp_path / "in.lnic"
    src.write_bytes(GOLDEN)
    target = {
        "missing_folder": tmp_path / "no" / "such" / "out.png",
        "output_is_folder": tmp_path,
        "empty_path": Path(""),
    }[case]
    before = sorted(os.listdir(tmp_path))
    code = main(["decode", str(src), "-o", str(target) if case != "empty_path" else ""])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert err.startswith("lnic decode: error: ")
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("case", ["missing", "folder"])
def test_decode_refuses_missing_input(case, tmp_path, capsys):
    src = tmp_path / "nothing.lnic" if case == "missing" else tmp_path
    out = tmp_path / "out.png"
    code = main(["decode", str(src), "-o", str(out)])
    _assert_clean_failure(
        code,
        capsys.readouterr().err,
        "decode",
        out,
        "no such file" if case == "missing" else "folder",
    )


def test_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    """A write that fails after the temporary file exists (disk full, ...) removes it."""
    import lnic.image_io as image_io

    src = tmp_path / "in.lnic"
    src.write_bytes(GOLDEN)

    def failing_replace(_a, _b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_io.os, "replace", failing_replace)
    out = tmp_path / "out.png"
    code = main(["decode", str(src), "-o", str(out)])
    _assert_clean_failure(code, capsys.readouterr().err, "decode", out, "no space")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.lnic"]


def test_valid_files_still_decode(tmp_path):
    for data in (GOLDEN, SYNTHETIC):
        src = tmp_path / "in.lnic"
        src.write_bytes(data)
        assert main(["decode", str(src), "-o", str(tmp_path / "out.png")]) == 0
        assert Image.open(tmp_path / "out.png").size[::-1] == decode_bytes(data).shape[:2]
        assert main(["info", str(src)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.lnic", "out.png"]


def test_absurd_size_is_refused_before_allocation():
    """The header check runs on the first 27 bytes, before anything is sized from them."""
    data = BAD_FILES["absurd_size_60000"][0]
    with pytest.raises(BitstreamError, match=f"1..{MAX_DIMENSION}"):
        decode_bytes(data)
    with pytest.raises(BitstreamError, match=str(MAX_PIXELS)):
        decode_bytes(BAD_FILES["too_many_pixels"][0])


def _lnic(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "lnic.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize("case", ["random_bytes"])  # each process pays the torch import
def test_cli_process_fails_cleanly(case, tmp_path):
    src = tmp_path / "in.lnic"
    src.write_bytes(BAD_FILES[case][0])
    out = tmp_path / "out.png"
    run = _lnic("decode", str(src), "-o", str(out))
    _assert_clean_failure(run.returncode, run.stderr, "decode", out, BAD_FILES[case][1])


def test_cli_process_unwritable_output(tmp_path):
    src = tmp_path / "in.lnic"
    src.write_bytes(GOLDEN)
    run = _lnic("decode", str(src), "-o", str(tmp_path / "missing" / "out.png"))
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert run.stderr.startswith("lnic decode: error: ") and len(run.stderr.splitlines()) == 1
