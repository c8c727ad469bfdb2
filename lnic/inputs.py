"""Reading a command's input: a file, standard input (``-``) or a stream (a FIFO, a process
substitution), with a size limit checked before or while reading, and the input's identity so
that no output replaces it."""

from __future__ import annotations

import os
import stat
import sys
from typing import NamedTuple

from lnic.errors import InputError
from lnic.outputs import STDIO, FileId, file_id_of


class Input(NamedTuple):
    """A command's input, as a path to open lazily or as the bytes already read."""

    name: str
    path: str | None
    """A regular file to open; None when ``data`` holds what was read from a stream."""
    data: bytes | None
    ident: FileId | None
    """Device and inode of a regular file (also behind standard input), else None."""


def _read_stream(name: str, fp, limit: int) -> bytes:
    data = fp.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{name}: more than {limit} bytes: too large")
    return data


def open_input(name: str, limit: int, read: bool = True) -> Input:
    """Check an input name and (with ``read``, or for a stream) read it, refusing files over
    ``limit`` bytes before reading them; every failure is one :class:`InputError`."""
    if name == STDIO:
        return Input(
            name, None, _read_stream("standard input", sys.stdin.buffer, limit), file_id_of(0)
        )
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{name}: is a folder, not a file")
    try:
        if not stat.S_ISREG(st.st_mode):
            with open(name, "rb") as fp:
                return Input(name, None, _read_stream(name, fp, limit), None)
        if st.st_size > limit:
            raise InputError(f"{name}: {st.st_size} bytes is too large")
        ident = FileId(st.st_dev, st.st_ino)
        if not read:
            return Input(name, name, None, ident)
        with open(name, "rb") as fp:
            return Input(name, name, _read_stream(name, fp, limit), ident)
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from exc
