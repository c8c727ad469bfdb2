"""Compile the kernels once per machine into a cached shared library (gcc, OpenMP).

The library is built for the CPU it runs on (``-march=native``) and cached under
``$LNIC_CACHE_DIR`` (default ``~/.cache/lnic``), keyed by a hash of the C sources, the flags,
the limits (:mod:`lnic.encoder.native.limits`) and the CPU's feature flags, so a changed
kernel, a changed limit or another machine builds afresh.

A cached library is used only if its SHA-256 equals the one recorded beside it when it was
built: loading a damaged shared library can kill the process (a truncated one dies of a bus
error), so one that fails the check is built again. The compiler writes into a temporary
folder and the library and its checksum are renamed into place, so no reader sees a
half-written file; two encoders starting together both compile and the last rename wins
(either library is the same).
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


class BuildError(Exception):
    """The kernels cannot be built on this machine."""


class NoCompiler(BuildError):
    """No C compiler is installed (an expected setup: the encoder then runs its torch code)."""


def cpu_flags() -> str:
    """The CPU's feature flags line of ``/proc/cpuinfo`` ("" where there is none), part of the
    cache key: a CPU with other features (another vector width, ``common.h``) builds its own
    library."""
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
    key.update(" ".join([*FLAGS, *defines(), cpu_flags()]).encode())
    return cache_dir() / f"kernels-{key.hexdigest()[:16]}.so"


def checksum_path(library: Path) -> Path:
    """Where the SHA-256 of ``library`` is recorded when it is built."""
    return library.with_name(library.name + ".sha256")


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_intact(library: Path) -> bool:
    """Whether ``library`` exists and still has the SHA-256 recorded when it was built."""
    try:
        return checksum_path(library).read_text().strip() == file_sha256(library)
    except OSError:
        return False


def build(fresh: bool = False) -> Path:
    """Path of an intact compiled library, compiling it if needed (always with ``fresh``).

    Raises :class:`NoCompiler` or :class:`BuildError` when it cannot be built.
    """
    path = library_path()
    if not fresh and is_intact(path):
        return path
    if path.exists() and not fresh:
        log.info("the cached kernels %s fail their checksum: building them again", path)
    return _compile(path)


def _compile(path: Path) -> Path:
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler is None:
        raise NoCompiler("no C compiler found")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            out, checksum = Path(tmp) / path.name, Path(tmp) / "sha256"
            subprocess.run(
                [compiler, *FLAGS, *defines(), str(UNIT), "-o", str(out), "-lm"],
                check=True,
                capture_output=True,
                timeout=COMPILE_TIMEOUT_S,
            )
            checksum.write_text(file_sha256(out) + "\n")
            os.replace(out, path)
            os.replace(checksum, checksum_path(path))
    except (OSError, subprocess.SubprocessError) as exc:
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[:500]
        raise BuildError(f"{exc} {detail}".strip()) from exc
    return path
