"""Compile the kernels once per machine into a cached shared library (gcc, OpenMP).

The library is built for the CPU it runs on (``-march=native``) and cached under
``$LNIC_CACHE_DIR`` (default ``~/.cache/lnic``), keyed by a hash of the C sources, the flags,
the limits (:mod:`lnic.encoder.native.limits`) and the CPU's feature flags, so a changed
kernel, a changed limit or another machine builds afresh. Two encoders starting together both
compile and the second rename wins; either library is the same.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from lnic.encoder.native.limits import defines

log = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).parent
UNIT = SOURCE_DIR / "kernels.c"
"""The one translation unit gcc compiles (it includes the per-network sources)."""
FLAGS = ["-O3", "-march=native", "-ffast-math", "-fopenmp", "-shared", "-fPIC"]
COMPILE_TIMEOUT_S = 120


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return ""


def sources() -> list[Path]:
    """Every C file the library is built from: the unit and what it includes."""
    return sorted([*SOURCE_DIR.glob("*.c"), *SOURCE_DIR.glob("*.h")])


def cache_dir() -> Path:
    return Path(os.environ.get("LNIC_CACHE_DIR") or Path.home() / ".cache" / "lnic")


def library_path() -> Path:
    key = hashlib.sha256()
    for source in sources():
        key.update(source.name.encode() + b"\0" + source.read_bytes())
    key.update(" ".join([*FLAGS, *defines(), _cpu_flags()]).encode())
    return cache_dir() / f"kernels-{key.hexdigest()[:16]}.so"


def build() -> Path | None:
    """Path of the compiled library, compiling it if needed; ``None`` if it cannot be built."""
    path = library_path()
    if path.exists():
        return path
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler is None:
        log.info("no C compiler found: the encoder uses its torch kernels")
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            out = Path(tmp) / path.name
            subprocess.run(
                [compiler, *FLAGS, *defines(), str(UNIT), "-o", str(out), "-lm"],
                check=True,
                capture_output=True,
                timeout=COMPILE_TIMEOUT_S,
            )
            os.replace(out, path)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        log.warning(
            "could not build the native training kernels (%s %s): the encoder uses its "
            "torch kernels",
            exc,
            detail.decode(errors="replace")[:500],
        )
        return None
    return path
