"""Compile a C translation unit once per machine into a cached, checksummed shared library.

The encoder's training kernels and the decoder's kernels (latent steps, pixel stages) are all
built here: for the CPU they run on (``-march=native``), cached under ``$LNIC_CACHE_DIR`` (default
``~/.cache/lnic``), named by a hash of their sources, flags and the CPU's feature flags, so a
changed kernel, a changed limit or another machine builds afresh.

A cached library is used only if its SHA-256 equals the one recorded beside it when it was
built: loading a damaged shared library can kill the process (a truncated one dies of a bus
error), so one that fails the check is built again. The compiler writes into a temporary
folder and the library and its checksum are renamed into place, so no reader sees a
half-written file; two processes starting together both compile and the last rename wins
(either library is the same).

This module imports nothing of lnic: the encoder, the bitstream and the decoder layers use it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

COMPILE_TIMEOUT_S = 120


class BuildError(Exception):
    """A library cannot be built on this machine."""


class NoCompiler(BuildError):
    """No C compiler is installed (an expected setup: callers fall back to Python code)."""


def address(array: object) -> int:
    """The address of a numpy array's first element (what a C kernel's pointer argument
    takes), without importing numpy here."""
    return array.__array_interface__["data"][0]  # type: ignore[attr-defined]


@functools.cache
def cpu_flags() -> str:
    """The CPU's feature flags line of ``/proc/cpuinfo`` ("" where there is none), part of every
    cache key: a CPU with other features (another vector width) builds its own library."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return ""


def cache_dir() -> Path:
    return Path(os.environ.get("LNIC_CACHE_DIR") or Path.home() / ".cache" / "lnic")


def library_path(stem: str, sources: Sequence[Path], flags: Sequence[str]) -> Path:
    """Where the library built from ``sources`` with ``flags`` on this CPU is cached."""
    key = hashlib.sha256()
    for source in sources:
        key.update(source.name.encode() + b"\0" + source.read_bytes())
    key.update(" ".join([*flags, cpu_flags()]).encode())
    return cache_dir() / f"{stem}-{key.hexdigest()[:16]}.so"


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


def build_cached(path: Path, unit: Path, flags: Sequence[str], fresh: bool = False) -> Path:
    """``path``, an intact library compiled from ``unit`` with ``flags`` (compiled now if it is
    missing or damaged, and always with ``fresh``).

    Raises :class:`NoCompiler` or :class:`BuildError` when it cannot be built.
    """
    import shutil  # (imported here: a decode that finds its library cached does not need them)
    import subprocess
    import tempfile

    if not fresh and is_intact(path):
        return path
    if path.exists() and not fresh:
        log.info("the cached library %s fails its checksum: building it again", path)
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler is None:
        raise NoCompiler("no C compiler found")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            out, checksum = Path(tmp) / path.name, Path(tmp) / "sha256"
            subprocess.run(
                [compiler, *flags, str(unit), "-o", str(out), "-lm"],
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


def load_cached(path: Path, unit: Path, flags: Sequence[str]) -> ctypes.CDLL:
    """The library at ``path`` (built from ``unit`` with ``flags`` if needed), loaded; one that
    does not load is built once more. Raises :class:`NoCompiler`, :class:`BuildError` or
    ``OSError``."""
    built = build_cached(path, unit, flags)
    try:
        return ctypes.CDLL(str(built))
    except OSError as exc:
        log.info("could not load %s (%s): building it again", built, exc)
        return ctypes.CDLL(str(build_cached(path, unit, flags, fresh=True)))


class NativeLibrary:
    """A C library the decoder loads on demand, with its fallback rules in one place: switched
    off by ``$LNIC_NATIVE_DECODE=0``; built (once per machine) and loaded on first use; a
    failed build is not tried again in this process, and the caller falls back to its numpy
    code, which gives the same pixels. The fallback is logged at INFO level, not warned about:
    a decoder runs where no compiler is installed or the cache folder is read-only, and a
    warning on every decode there would tell its user nothing they can act on."""

    SWITCH = "LNIC_NATIVE_DECODE"

    def __init__(
        self,
        stem: str,
        unit: Path,
        flags: Sequence[str],
        what: str,
        includes: Sequence[Path] = (),
    ) -> None:
        """``unit`` is compiled with ``flags``; ``includes`` are the files it includes (part of
        the cache key with it); ``what`` names the decoder stage in log messages."""
        self.stem, self.unit, self.flags, self.what = stem, unit, list(flags), what
        self.includes = list(includes)
        self._lib: ctypes.CDLL | None = None
        self._failed = False

    def path(self) -> Path:
        return library_path(self.stem, [self.unit, *self.includes], self.flags)

    def enabled(self) -> bool:
        return not self._failed and os.environ.get(self.SWITCH, "1") != "0"

    def loaded(self) -> bool:
        return self._lib is not None

    def load(self) -> ctypes.CDLL | None:
        """The loaded library, or None where it is switched off or cannot be built."""
        if self._lib is not None or not self.enabled():
            return self._lib
        try:
            self._lib = load_cached(self.path(), self.unit, self.flags)
        except NoCompiler:
            log.info("no C compiler: the decoder runs its %s without C kernels", self.what)
            self._failed = True
        except (BuildError, OSError) as exc:
            log.info("no C kernels for the %s (%s): decoding without them", self.what, exc)
            self._failed = True
        return self._lib
