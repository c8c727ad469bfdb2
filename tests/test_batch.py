"""Batch runs of ``lnic encode``: a folder into an output folder on local workers, resuming,
a worker killed mid-encode, a bad input among good ones, and the same jobs on a local Ray head
giving byte-identical files.

The images are 24x16 and every encode runs 3 steps of the fast preset, so a run costs about
the start of its worker processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lnic
from lnic.batch.jobs import KILL_HOOK_VARIABLE, KILL_ONCE_VARIABLE, Settings
from lnic.batch.plan import RECORD_FOLDER, output_paths, prepare_outdir
from lnic.batch.summary import read_summary
from lnic.cli import main
from lnic.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--preset", "fast", "--steps", "3", "--threads", "1"]
NAMES = ("a.png", "b.png", "c.png")


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:16, 0:24]
    ramp = np.stack([x * 9 + seed * 40, y * 13, (x + y) * 5], -1)
    return (ramp + rng.integers(0, 40, ramp.shape)).clip(0, 255).astype(np.uint8)


@pytest.fixture
def folder(tmp_path) -> Path:
    images = tmp_path / "in"
    images.mkdir()
    for seed, name in enumerate(NAMES):
        Image.fromarray(_image(seed)).save(images / name)
    (images / "notes.txt").write_text("not an image: left out of the folder's files")
    return images


def _statuses(outdir: Path) -> dict[str, str]:
    return {Path(r["file"]).name: r["status"] for r in read_summary(outdir / "summary.csv")}


def _state(outdir: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in outdir.glob("*.lnic")}


def _leftovers(outdir: Path) -> list[str]:
    """Anything in OUTDIR besides the outputs, the summary and the records."""
    allowed = {"summary.csv", RECORD_FOLDER}
    return sorted(
        str(p.relative_to(outdir))
        for p in outdir.rglob("*")
        if not (p.suffix == ".lnic" and p.parent == outdir)
        and p.name not in allowed
        and not (p.parent.name == RECORD_FOLDER and p.name.endswith(".lnic.json"))
    )


def test_a_folder_is_encoded_skipped_when_done_and_redone_for_new_settings(folder, tmp_path):
    outdir = tmp_path / "out" / "nested"  # created with its parents
    assert main(["encode", str(folder), "-o", str(outdir), "--workers", "2", *FAST]) == 0
    assert _statuses(outdir) == dict.fromkeys(NAMES, "ok")
    for seed, name in enumerate(NAMES):
        decoded = lnic.decode((outdir / name.replace(".png", ".lnic")).read_bytes())
        assert decoded.shape == _image(seed).shape
    rows = read_summary(outdir / "summary.csv")
    assert all(int(r["bytes"]) == (Path(r["output"])).stat().st_size for r in rows)
    first = _state(outdir)

    assert main(["encode", str(folder), "-o", str(outdir), "--workers", "2", *FAST]) == 0
    assert _statuses(outdir) == dict.fromkeys(NAMES, "skipped")
    assert _state(outdir) == first  # not rewritten: same bytes, same modification times

    other = ["--preset", "fast", "--steps", "4", "--threads", "1"]
    assert main(["encode", str(folder), "-o", str(outdir), "--workers", "2", *other]) == 0
    assert _statuses(outdir) == dict.fromkeys(NAMES, "ok")
    again = _state(outdir)
    assert all(again[name][0] != first[name][0] for name in first)
    assert _leftovers(outdir) == []


def test_a_killed_worker_fails_its_file_only_and_the_next_run_redoes_it(
    folder, tmp_path, monkeypatch, capsys
):
    outdir = tmp_path / "out"
    monkeypatch.setenv(KILL_HOOK_VARIABLE, "b.png")  # b's worker SIGKILLs itself mid-encode
    assert main(["encode", str(folder), "-o", str(outdir), "--workers", "2", *FAST]) == 1
    assert _statuses(outdir) == {"a.png": "ok", "b.png": "failed", "c.png": "ok"}
    (failed,) = [r for r in read_summary(outdir / "summary.csv") if r["status"] == "failed"]
    assert "SIGKILL" in failed["error"] and "\n" not in failed["error"]
    assert sorted(p.name for p in outdir.glob("*.lnic")) == ["a.lnic", "c.lnic"]
    assert _leftovers(outdir) == []  # no partial output, no temporary file
    assert "b.png: failed" in capsys.readouterr().err

    monkeypatch.delenv(KILL_HOOK_VARIABLE)
    assert main(["encode", str(folder), "-o", str(outdir), "--workers", "2", *FAST]) == 0
    assert _statuses(outdir) == {"a.png": "skipped", "b.png": "ok", "c.png": "skipped"}
    assert lnic.decode((outdir / "b.lnic").read_bytes()).shape == (16, 24, 3)


def test_a_bad_input_is_a_failed_row_and_the_others_are_encoded(folder, tmp_path, capsys):
    (folder / "x.png").write_text("a text file with an image's name\n")
    outdir = tmp_path / "out"
    argv = ["encode", str(folder), "-o", str(outdir), "--workers", "2", "--json", *FAST]
    assert main(argv) == 1
    assert _statuses(outdir) == {**dict.fromkeys(NAMES, "ok"), "x.png": "failed"}
    out, err = capsys.readouterr()
    report = json.loads(out.splitlines()[-1])
    assert (report["ok"], report["skipped"], report["failed"]) == (3, 0, 1)
    assert "x.png: failed: " in err
    (failed,) = [r for r in read_summary(outdir / "summary.csv") if r["status"] == "failed"]
    assert "x.png" in failed["error"] and "\n" not in failed["error"]
    assert not (outdir / "x.lnic").exists()


def test_settings_key_changes_with_every_setting():
    base = Settings(quality=4, preset="fast", steps=3, seed=0)
    changed = [
        Settings(quality=5, preset="fast", steps=3, seed=0),
        Settings(lmbda=0.0025, preset="fast", steps=3, seed=0),
        Settings(size=900, preset="fast", steps=3, seed=0),
        Settings(bpp=0.5, preset="fast", steps=3, seed=0),
        Settings(quality=4, preset="default", steps=3, seed=0),
        Settings(quality=4, preset="fast", steps=4, seed=0),
        Settings(quality=4, preset="fast", steps=3, seed=1),
    ]
    keys = {s.key() for s in changed}
    assert base.key() == Settings(quality=4, preset="fast", steps=3, seed=0).key()
    assert len(keys) == len(changed) and base.key() not in keys


def test_outputs_keep_the_extension_where_stems_collide(tmp_path):
    paths = output_paths(["x/a.png", "y/a.jpg", "b.png"], tmp_path)
    assert [p.name for p in paths] == ["a.png.lnic", "a.jpg.lnic", "b.lnic"]
    with pytest.raises(InputError, match="would both be written"):
        output_paths(["x/a.png", "y/a.png"], tmp_path)


def test_a_new_run_removes_the_temporary_files_a_killed_driver_left(tmp_path):
    outdir = tmp_path / "out"
    (outdir / RECORD_FOLDER).mkdir(parents=True)
    stale = [outdir / ".a.lnic.k2j4x9.tmp", outdir / RECORD_FOLDER / ".a.lnic.json.8fq1.tmp"]
    kept = [outdir / "a.lnic", outdir / "notes.tmp", outdir / ".keep"]
    for path in stale + kept:
        path.write_bytes(b"x")
    prepare_outdir(outdir)
    assert [p.exists() for p in stale] == [False, False]
    assert all(p.exists() for p in kept)


def test_standard_input_or_output_in_a_batch_is_refused(folder, tmp_path, capsys):
    assert main(["encode", str(folder), "-", "-o", str(tmp_path / "o")]) == 1
    assert main(["encode", str(folder), "-o", "-"]) == 1
    assert main(["encode", str(folder), "-o", str(tmp_path / "x.lnic")]) == 1  # a file's name
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("lnic encode: error: ") for line in lines)
    assert not (tmp_path / "x.lnic").exists() and not (tmp_path / "o").exists()


def test_ray_without_ray_installed_says_how_to_install_it(folder, tmp_path):
    script = (
        "import sys\n"
        "class NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'ray':\n"
        "            raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n"
        "sys.meta_path.insert(0, NoRay())\n"
        "from lnic.cli import main\nsys.exit(main())\n"
    )
    argv = ["encode", str(folder), "-o", str(tmp_path / "o"), "--ray", "127.0.0.1:1"]
    run = subprocess.run(
        [sys.executable, "-c", script, *argv],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith("lnic encode: error: ") and "pip install 'lnic[cluster]'" in line
    assert not (tmp_path / "o").exists()


def test_ray_with_no_head_at_the_address_is_one_line_at_once(folder, tmp_path, capsys):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{_free_port()}"
    t = time.monotonic()
    assert main(["encode", str(folder), "-o", str(tmp_path / "o"), "--ray", address]) == 1
    assert time.monotonic() - t < 30  # Ray alone would keep retrying for minutes
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"lnic encode: error: --ray {address}: no Ray head answers")
    assert not (tmp_path / "o").exists()


# --- Ray ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path):
    """A Ray head on loopback, started for this test alone (``ray start --block`` in its own
    process group, so that ending that group ends every process it started). Its workers kill
    themselves once while encoding c.png (the marker file says it happened)."""
    pytest.importorskip("ray")
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    env |= {KILL_HOOK_VARIABLE: "c.png", KILL_ONCE_VARIABLE: str(tmp_path / "killed-once")}
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block"]
    cmd += ["--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    cmd += ["--include-dashboard=false", "--disable-usage-stats"]
    head = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert head.poll() is None, "ray start ended early"
            assert time.monotonic() < deadline, "the Ray head did not open its port in 60 s"
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # ray start --block then stops its processes
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def test_ray_tasks_write_the_same_bytes_as_local_workers_and_retry_a_killed_one(
    folder, tmp_path, ray_head
):
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["encode", str(folder), "-o", str(local), "--workers", "2", *FAST]) == 0
    argv = ["encode", str(folder), "-o", str(remote), "--ray", ray_head, "--workers", "2"]
    assert main([*argv, *FAST]) == 0
    assert _statuses(remote) == dict.fromkeys(NAMES, "ok")
    for name in ("a.lnic", "b.lnic", "c.lnic"):
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    assert _leftovers(remote) == []
    assert (tmp_path / "killed-once").exists()  # c.png's first task was killed, then retried
