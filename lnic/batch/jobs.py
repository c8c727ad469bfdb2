"""One job of a batch run: what to encode, with which settings, and the encode itself.

The functions here run in the worker (a local process or a Ray task): they return plain,
picklable results (:class:`Encoded`, or :class:`Failed` with a one-line message) instead of
raising, so that one bad file never stops the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lnic.api import EncodeStats

log = logging.getLogger(__name__)

KILL_HOOK_VARIABLE = "LNIC_BATCH_TEST_KILL"
"""Test hook: a worker whose job's input file is named this (its base name) kills its own
process with SIGKILL after the first training step, as a crash or the OOM killer would."""

KILL_ONCE_VARIABLE = "LNIC_BATCH_TEST_KILL_ONCE_MARKER"
"""With the test hook: a file path; the worker kills itself only if that file does not exist
yet, and creates it first (so that a retried job then succeeds)."""


@dataclass(frozen=True)
class Settings:
    """What decides an output's content, apart from the thread count: the key of resuming."""

    quality: int | None = None
    lmbda: float | None = None
    size: int | None = None
    """Target file size in bytes (``--size``)."""
    bpp: float | None = None
    """Target bits per pixel (``--bpp``)."""
    preset: str = "default"
    steps: int | None = None
    seed: int = 0

    def key(self) -> str:
        """A short hash of the settings: an output made with the same key is not made again."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (stored in each output's record)."""
        return asdict(self)


@dataclass(frozen=True)
class Job:
    """One file to encode."""

    index: int
    """Position in the run's list of inputs (the summary keeps that order)."""
    input: str
    """The input file's path."""
    output: str
    """The .lnic file to write."""
    settings: Settings
    threads: int = 1
    """Torch/OpenMP threads of the worker that encodes it (the bytes depend on it)."""


@dataclass(frozen=True)
class Encoded:
    """A job's bitstream with what the encoder measured (the driver writes the file)."""

    stats: EncodeStats
    notes: tuple[str, ...] = ()
    """The image reader's notices (16-bit samples reduced, EXIF dropped, ...)."""


@dataclass(frozen=True)
class Failed:
    """A job that did not produce a file, with the reason in one line."""

    error: str


def one_line(exc: BaseException) -> str:
    """An exception as one line: lnic's own errors as they are, others with their type."""
    from lnic.errors import LnicError

    text = str(exc) if isinstance(exc, LnicError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def kill_hook(name: str):
    """The progress callback that carries out :data:`KILL_HOOK_VARIABLE` for the input file
    ``name`` (None: no hook for it)."""
    if os.environ.get(KILL_HOOK_VARIABLE) != os.path.basename(name):
        return None
    marker = os.environ.get(KILL_ONCE_VARIABLE)

    def kill(step: int, _total: int, _stats: dict[str, float]) -> None:
        if step < 1:
            return
        if marker:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
        log.warning("test hook: killing worker %d", os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)

    return kill


def encode_pixels(
    pixels: np.ndarray,
    icc_profile: bytes | None,
    settings: Settings,
    threads: int,
    progress=None,
) -> Encoded:
    """Encode an image array with ``threads`` threads (set before the encoder is used, since
    the bytes depend on it). LnicError and the encoder's other exceptions propagate."""
    from lnic.threads import set_threads

    set_threads(threads)
    from lnic.api import encode_with_stats

    stats = encode_with_stats(
        pixels,
        settings.quality,
        settings.preset,
        settings.lmbda,
        settings.seed,
        target_bytes=settings.size,
        target_bpp=settings.bpp,
        steps=settings.steps,
        icc_profile=icc_profile,
        progress=progress,
    )
    return Encoded(stats)


def run_job(job: Job) -> Encoded | Failed:
    """Read a job's input file and encode it (what a local worker does for each job)."""
    from lnic.image_io import load_image

    try:
        image = load_image(job.input, job.input)
        encoded = encode_pixels(
            image.pixels, image.icc_profile, job.settings, job.threads, kill_hook(job.input)
        )
    except Exception as exc:  # every failure becomes the file's row, never the run's end
        log.debug("%s failed", job.input, exc_info=True)
        return Failed(one_line(exc))
    return replace(encoded, notes=tuple(image.notes))
