"""Where a command's output goes, and writing it there without damaging anything.

* ``-`` (and ``/dev/stdout``, ``/dev/fd/N``, links to them): the bytes go to that open
  descriptor as they are, so a pipe or a shell redirection gets them.
* A character device or a FIFO (``/dev/null``, a named pipe): written through, never replaced.
* A regular file, or a name that does not exist yet: written to a temporary file in the same
  folder and renamed over it, so a failure never leaves a partial file. A symbolic link is
  followed: its target is replaced and the link stays.
* The output is never the input file, whatever names lead to it (compared by device and inode).
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from lnic.errors import InputError, LnicError

STDIO = "-"
"""The name that stands for standard input (an input) or standard output (an output)."""

_MAX_LINK_HOPS = 40


class FileId(NamedTuple):
    """What makes two names the same file: its device and inode."""

    device: int
    inode: int


def file_id_of(path: str | os.PathLike | int) -> FileId | None:
    """The identity of a regular file given by path (links followed) or open descriptor; None
    for anything else (missing, a pipe, a terminal)."""
    try:
        st = os.fstat(path) if isinstance(path, int) else os.stat(path)
    except (OSError, ValueError):
        return None
    return FileId(st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


@dataclass(frozen=True)
class Output:
    """A resolved output: how :func:`write_output` writes it."""

    name: str
    """The name the user gave (for messages)."""
    kind: Literal["descriptor", "stream", "file"]
    """``descriptor``: an open descriptor (standard output, ``/dev/fd/N``); ``stream``: a
    device or FIFO, written in place; ``file``: replaced through a temporary file."""
    path: Path | None = None
    """``stream``: the path to open; ``file``: the file to replace (symbolic links followed)."""
    fd: int | None = None

    @property
    def suffix(self) -> str:
        """The extension of the name given, lower case ('' for ``-`` and bare names)."""
        return "" if self.name == STDIO else Path(self.name).suffix.lower()

    @property
    def is_stdout(self) -> bool:
        """True when the bytes go to this process's standard output (messages must not)."""
        return self.kind == "descriptor" and self.fd == sys.stdout.fileno()


def descriptor_alias(name: str) -> int | None:
    """The descriptor number that ``name`` stands for (``/dev/stdout``, ``/dev/fd/3``,
    ``/proc/self/fd/1``, or a link to one of them), else None."""
    prefixes = ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/")
    path = os.path.abspath(name)
    for _ in range(_MAX_LINK_HOPS):
        for prefix in prefixes:
            rest = path[len(prefix) :]
            if path.startswith(prefix) and rest.isdigit():
                return int(rest)
        try:
            target = os.readlink(path)
        except OSError:
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(path), target))
    return None


def _refuse_input(name: str, ident: FileId | None, inputs: Iterable[FileId]) -> None:
    if ident is not None and ident in set(inputs):
        raise InputError(f"{name}: is the input file; choose another output name")


def _descriptor(name: str, fd: int, inputs: Iterable[FileId], binary: bool) -> Output:
    try:
        tty = os.isatty(fd)
        os.fstat(fd)
    except OSError as exc:
        raise InputError(f"{name}: descriptor {fd} is not open ({exc.strerror})") from exc
    if binary and tty:
        raise InputError(f"{name}: is a terminal; redirect it (> file, | program) or name a file")
    _refuse_input(name, file_id_of(fd), inputs)
    return Output(name, "descriptor", fd=fd)


def resolve_output(name: str, inputs: Iterable[FileId] = (), binary: bool = True) -> Output:
    """Check an output name before any work is done; raises :class:`InputError` for an output
    that cannot or must not be written (a folder, a missing folder, the input file itself,
    a terminal for ``binary`` data)."""
    inputs = tuple(i for i in inputs if i is not None)
    if not name:
        raise InputError("empty output path")
    if name == STDIO:
        return _descriptor(name, sys.stdout.fileno(), inputs, binary)
    fd = descriptor_alias(name)
    if fd is not None:
        return _descriptor(name, fd, inputs, binary)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(f"{name}: cannot write there ({exc.strerror or exc})") from exc
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{name}: is a folder")
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            return Output(name, "stream", path=Path(name))
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{name}: not a regular file, a character device or a FIFO")
        _refuse_input(name, FileId(st.st_dev, st.st_ino), inputs)
    real = Path(os.path.realpath(name))
    if not real.parent.is_dir():
        raise InputError(f"{name}: output folder {real.parent} does not exist")
    return Output(name, "file", path=real)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_output(out: Output, data: bytes) -> None:
    """Write ``data`` to a resolved output (see the module's docstring for what goes where).
    Every failure is one :class:`LnicError` naming the output; nothing partial is left in a
    regular file."""
    try:
        if out.kind == "descriptor":
            if out.is_stdout:
                sys.stdout.flush()
            _write_all(out.fd, data)
        elif out.kind == "stream":
            _write_stream(out, data)
        else:
            replace_file(out.path, data)
    except OSError as exc:
        raise LnicError(f"{out.name}: cannot write ({exc.strerror or exc})") from exc


def _write_stream(out: Output, data: bytes) -> None:
    """Write through to a device or FIFO; if the name has meanwhile become a regular file,
    replace it as one instead (never write into a regular file in place)."""
    fd = os.open(out.path, os.O_WRONLY | os.O_NOCTTY)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            fd = -1
            replace_file(Path(os.path.realpath(out.path)), data)
            return
        _write_all(fd, data)
    finally:
        if fd >= 0:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` (a regular file or a new name, its
    links already followed), then rename it over ``path``; the temporary file never
    survives a failure. OSError propagates."""
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
