"""What a plain install (no extras) can do: decode and describe files without torch, scipy,
matplotlib or tqdm, and refuse to encode with one line that says how to install the encoder."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden.lnic"

OPTIONAL = (
    "torch",
    "scipy",
    "matplotlib",
    "tqdm",
    "imagecodecs",
    "pillow_heif",
    "pillow_avif",
    "ray",
)
"""Packages that only the extras install."""

PLAIN_INSTALL = {"numpy", "constriction", "numba", "pillow"}


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_a_plain_install_has_what_decoding_needs_and_no_torch():
    project = _pyproject()["project"]
    assert {_name(r) for r in project["dependencies"]} == PLAIN_INSTALL
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    assert "torch" in extras["encode"] and "tqdm" in extras["encode"]
    assert {"scipy", "matplotlib", "imagecodecs", "pillow-avif-plugin"} <= extras["bench"]
    assert "pillow-heif" in extras["heic"]
    assert extras["cluster"] == {"ray"}
    (everything,) = project["optional-dependencies"]["all"]
    assert everything.replace(" ", "") == "lnic[encode,heic,bench]"


def _module_level_imports(path: Path) -> set[str]:
    """Top-level package names imported outside any function or class."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        nodes = node.body if isinstance(node, ast.Try) else [node]
        for n in nodes:
            if isinstance(n, ast.Import):
                names |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
                names.add(n.module.split(".")[0])
    return names


def test_only_the_encoder_and_the_bench_import_optional_packages_at_module_level():
    offenders = {}
    for path in (ROOT / "lnic").rglob("*.py"):
        rel = path.relative_to(ROOT / "lnic").parts
        if rel[0] in ("encoder", "bench") and path.name != "__init__.py":
            continue
        heavy = _module_level_imports(path) & set(OPTIONAL)
        if heavy:
            offenders[str(path.relative_to(ROOT))] = sorted(heavy)
    assert offenders == {}


def _run_without(packages: tuple[str, ...], argv: list[str], cwd: Path, **env: str):
    """``lnic ARGV`` of this checkout in a fresh interpreter where ``packages`` cannot be
    imported."""
    code = (
        "import sys\n"
        f"for name in {packages!r}:\n"
        "    sys.modules[name] = None  # import raises ImportError, as if not installed\n"
        "from lnic.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONPATH": path, **env},
    )


def test_decode_and_info_work_without_the_optional_packages(tmp_path):
    out = tmp_path / "golden.png"
    # numba's compiled matrix products call scipy's BLAS, so without scipy the decoder runs its
    # numpy loop (and a kernel cached with scipy present aborts the process): switch numba off
    no_numba = {"LNIC_NO_NUMBA": "1"}
    dec = _run_without(OPTIONAL, ["decode", str(GOLDEN), "-o", str(out)], tmp_path, **no_numba)
    assert dec.returncode == 0, dec.stderr
    with Image.open(out) as im:
        assert im.size[0] > 0
    info = _run_without(OPTIONAL, ["info", "--json", str(GOLDEN)], tmp_path, **no_numba)
    assert info.returncode == 0, info.stderr
    assert '"width"' in info.stdout


def test_encode_without_torch_ends_in_one_line_naming_the_extra(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(src)
    out = tmp_path / "out.lnic"
    run = _run_without(("torch",), ["encode", str(src), "-o", str(out)], tmp_path)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "pip install 'lnic[encode]'" in lines[0]
    assert not out.exists()


def test_require_torch_raises_an_lnic_error_when_torch_is_missing(monkeypatch):
    from lnic.encoder import require_torch
    from lnic.errors import LnicError

    require_torch()  # installed here: nothing happens
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(LnicError, match=r"lnic\[encode\]"):
        require_torch()


def test_every_c_source_is_package_data():
    """The kernels are compiled on the user's machine from the installed sources: a C file
    that no package-data glob names would be missing from a plain (non-editable) install."""
    data = _pyproject()["tool"]["setuptools"]["package-data"]
    for path in (ROOT / "lnic").rglob("*.[ch]"):
        rel = path.relative_to(ROOT)
        covered = False
        for package, globs in data.items():
            base = ROOT / Path(*package.split("."))
            if base in path.parents:
                covered |= any(path.relative_to(base).match(g) for g in globs)
        assert covered, rel
