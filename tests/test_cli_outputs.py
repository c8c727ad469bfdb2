"""Where ``lnic decode`` and ``lnic encode`` write: devices, FIFOs and standard output written
through, symbolic links followed, regular files replaced whole, the input never overwritten,
the format chosen by the extension.

The special files are made in a temporary folder (a FIFO; a character device node with mknod
where permitted): the tests never touch the real /dev.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lnic.cli import main
from lnic.decoder import decode_bytes

DATA = Path(__file__).parent / "data"
GOLDEN = (DATA / "golden.lnic").read_bytes()
SYNTHETIC = (DATA / "golden_synthetic.lnic").read_bytes()  # grayscale
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def golden(tmp_path) -> Path:
    src = tmp_path / "in.lnic"
    src.write_bytes(GOLDEN)
    return src


def _lnic_process(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "lnic.cli", *args], env=env, timeout=300, check=False, **kw
    )


def _png_pixels(data: bytes) -> np.ndarray:
    assert data.startswith(PNG_MAGIC)
    return np.asarray(Image.open(io.BytesIO(data)))


# --- special files -------------------------------------------------------------------------


def test_decode_into_a_fifo_writes_through(golden, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        code = main(["decode", str(golden), "-o", str(fifo)])
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"
        out, _ = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert code == 0
    assert np.array_equal(_png_pixels(out), decode_bytes(GOLDEN))


def test_decode_into_a_device_node_writes_through(golden, tmp_path):
    node = tmp_path / "null"  # a private /dev/null twin; never the real one
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.close(os.open(node, os.O_WRONLY))
    except (OSError, AttributeError) as exc:
        pytest.skip(f"cannot make a usable device node here ({exc})")
    assert main(["decode", str(golden), "-o", str(node)]) == 0
    st = os.lstat(node)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.lnic", "null"]


def test_decode_through_a_symlink_keeps_the_link(golden, tmp_path):
    target = tmp_path / "real.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target.name)
    assert main(["decode", str(golden), "-o", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == "real.png"
    assert np.array_equal(_png_pixels(target.read_bytes()), decode_bytes(GOLDEN))


def test_a_dangling_symlink_creates_its_target(golden, tmp_path):
    link = tmp_path / "link.png"
    link.symlink_to("made.png")
    assert main(["decode", str(golden), "-o", str(link)]) == 0
    assert link.is_symlink() and (tmp_path / "made.png").read_bytes().startswith(PNG_MAGIC)


def test_a_link_to_standard_output_writes_to_the_descriptor(golden, tmp_path):
    """Like ``-o /dev/stdout``: a link into /proc/self/fd is the process's own descriptor,
    written through; the link itself stays."""
    link = tmp_path / "stdout.png"
    link.symlink_to("/proc/self/fd/1")
    run = _lnic_process("decode", str(golden), "-o", str(link), capture_output=True)
    assert run.returncode == 0, run.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert np.array_equal(_png_pixels(run.stdout), decode_bytes(GOLDEN))
    assert b"decoded in" in run.stderr  # the summary moves to stderr


# --- the input is never the output --------------------------------------------------------


@pytest.mark.parametrize("how", ["same_name", "hard_link", "symlink", "dot_path"])
def test_decode_refuses_to_overwrite_its_input(golden, tmp_path, capsys, how):
    out = {
        "same_name": golden,
        "hard_link": tmp_path / "other.lnic",
        "symlink": tmp_path / "alias.lnic",
        "dot_path": tmp_path / "." / "in.lnic",
    }[how]
    if how == "hard_link":
        os.link(golden, out)
    elif how == "symlink":
        out.symlink_to(golden.name)
    code = main(["decode", str(golden), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "is the input file" in err and len(err.strip().splitlines()) == 1
    assert golden.read_bytes() == GOLDEN


def test_encode_refuses_to_overwrite_its_input(tmp_path, capsys):
    src = tmp_path / "in.lnic"  # a PNG under any name: the check is on the file, not the name
    Image.new("RGB", (32, 32), (10, 20, 30)).save(src, format="PNG")
    before = src.read_bytes()
    code = main(["encode", str(src), "-o", str(src), "--preset", "fast"])
    err = capsys.readouterr().err
    assert code == 1 and "is the input file" in err
    assert src.read_bytes() == before


def test_encode_refuses_an_image_name_for_its_output(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.new("RGB", (32, 32)).save(src)
    code = main(["encode", str(src), "-o", str(tmp_path / "out.png")])
    assert code == 1 and "name the output .lnic" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


# --- formats by extension ------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".PNG", ".ppm", ".pnm", ".tif", ".tiff", ".bmp"])
def test_decode_writes_the_format_of_the_extension(golden, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    assert main(["decode", str(golden), "-o", str(out), "--quiet"]) == 0
    with Image.open(out) as im:
        expected = {".png": "PNG", ".ppm": "PPM", ".pnm": "PPM", ".bmp": "BMP"}
        assert im.format == expected.get(suffix.lower(), "TIFF")
        assert np.array_equal(np.asarray(im), decode_bytes(GOLDEN))


def test_decode_writes_pam_and_pgm(tmp_path):
    src = tmp_path / "gray.lnic"
    src.write_bytes(SYNTHETIC)
    gray = decode_bytes(SYNTHETIC)
    assert main(["decode", str(src), "-o", str(tmp_path / "out.pgm")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.pgm")), gray)
    assert main(["decode", str(src), "-o", str(tmp_path / "out.pam")]) == 0
    data = (tmp_path / "out.pam").read_bytes()
    head = b"P7\nWIDTH 40\nHEIGHT 37\nDEPTH 1\nMAXVAL 255\nTUPLTYPE GRAYSCALE\nENDHDR\n"
    assert data == head + gray.tobytes()


@pytest.mark.parametrize("name", ["out.jpg", "out.webp", "out.lnic", "out.pgm"])
def test_decode_refuses_formats_it_does_not_write(golden, tmp_path, capsys, name):
    """Lossy or foreign extensions are refused with the list of what is written; .pgm holds
    grayscale only (the golden file is RGB)."""
    out = tmp_path / name
    code = main(["decode", str(golden), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and name in err
    assert ".png" in err or "grayscale" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.lnic"]


# --- standard input and output -------------------------------------------------------------


def test_decode_to_standard_output_pipes_into_a_png_reader(golden):
    """``lnic decode x.lnic -o - | python -c 'Image.open(sys.stdin.buffer)'``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    reader_code = (
        "import sys, numpy as np; from PIL import Image; "
        "im = Image.open(sys.stdin.buffer); a = np.asarray(im); "
        "print(im.format, a.shape, int(a.astype(np.int64).sum()))"
    )
    decoder = subprocess.Popen(
        [sys.executable, "-m", "lnic.cli", "decode", str(golden), "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    reader = subprocess.run(
        [sys.executable, "-c", reader_code],
        stdin=decoder.stdout,
        capture_output=True,
        text=True,
        timeout=300,
    )
    decoder.stdout.close()
    assert decoder.wait(timeout=300) == 0, decoder.stderr.read()
    expected = decode_bytes(GOLDEN)
    assert reader.stdout.split() == [
        "PNG",
        *str(expected.shape).split(),
        str(int(expected.astype(np.int64).sum())),
    ], reader.stderr


def test_decode_from_standard_input(tmp_path):
    out = tmp_path / "out.png"
    run = _lnic_process("decode", "-", "-o", str(out), input=GOLDEN, capture_output=True)
    assert run.returncode == 0, run.stderr
    assert np.array_equal(np.asarray(Image.open(out)), decode_bytes(GOLDEN))


def test_binary_output_to_a_terminal_is_refused(golden):
    leader, follower = os.openpty()
    try:
        run = _lnic_process(
            "decode", str(golden), "-o", "-", stdout=follower, stderr=subprocess.PIPE
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert run.returncode == 1 and b"is a terminal" in run.stderr


def test_info_reads_standard_input():
    run = _lnic_process("info", "--json", "-", input=GOLDEN, capture_output=True)
    assert run.returncode == 0, run.stderr
    assert b'"width": 32' in run.stdout
