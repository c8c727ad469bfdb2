"""Which files a batch run encodes, where each output goes, and which outputs are already done.

* A folder given as an input stands for the image files directly inside it (not in its
  sub-folders), by extension (:data:`IMAGE_SUFFIXES`), hidden files left out, in name order.
* ``IN/photo.jpg`` becomes ``OUTDIR/photo.lnic``; when two inputs share a stem, both keep their
  extension (``photo.jpg.lnic``, ``photo.png.lnic``).
* Each output has a record, ``OUTDIR/.lnic-batch/NAME.lnic.json``, written after the output:
  the settings' key, the output's size and SHA-256, its statistics. An output is done when
  its record has the run's settings key and still matches the file; any other output (other
  settings, changed, or without a record) is encoded again and replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from lnic.errors import InputError
from lnic.outputs import STDIO, replace_file

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset(
    ".png .jpg .jpeg .jpe .jfif .webp .tif .tiff .bmp .gif .ppm .pgm .pnm .pbm .pam .tga .qoi "
    ".heic .heif .avif".split()
)
"""The extensions of the files taken from a folder (files named explicitly are taken as
they are)."""

RECORD_FOLDER = ".lnic-batch"
"""The folder inside OUTDIR that holds one record per output."""

SUMMARY_NAME = "summary.csv"


def _folder_images(folder: Path) -> list[str]:
    found = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return [str(p) for p in sorted(found)]


def collect_inputs(names: list[str]) -> list[str]:
    """The files that ``names`` stand for: files as given, folders by their images."""
    files: list[str] = []
    for name in names:
        if name == STDIO:
            raise InputError("standard input (-) can only be encoded alone, to one output file")
        path = Path(name)
        if path.is_dir():
            images = _folder_images(path)
            if not images:
                raise InputError(f"{name}: no image files in this folder")
            files.extend(images)
        else:
            files.append(name)
    return files


def output_paths(inputs: list[str], outdir: Path) -> list[Path]:
    """``OUTDIR/STEM.lnic`` for each input (``STEM.EXT.lnic`` where stems collide)."""
    stems = [Path(name).stem for name in inputs]
    names = [
        f"{Path(name).name if stems.count(stem) > 1 else stem}.lnic"
        for name, stem in zip(inputs, stems)
    ]
    seen: dict[str, str] = {}
    for name, out in zip(inputs, names):
        if out in seen:
            raise InputError(f"{seen[out]} and {name} would both be written to {outdir / out}")
        seen[out] = name
    return [outdir / out for out in names]


def prepare_outdir(outdir: Path) -> None:
    """Create OUTDIR (and its parents) if missing, and remove the temporary files that a
    killed run may have left in it (``.NAME.RANDOM.tmp``, the atomic writes' leftovers)."""
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: not a folder (several inputs need an output folder)")
    try:
        (outdir / RECORD_FOLDER).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{outdir}: cannot create the folder ({exc.strerror or exc})") from exc
    for folder in (outdir, outdir / RECORD_FOLDER):
        for path in folder.glob(".*.tmp"):
            if path.is_file():
                log.info("removing %s, left by an interrupted run", path)
                path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Record:
    """What is known about an output that a batch run wrote."""

    settings_key: str
    settings: dict
    bytes: int
    sha256: str
    width: int
    height: int
    bpp: float
    psnr: float
    seconds: float


def record_path(output: Path) -> Path:
    return output.parent / RECORD_FOLDER / f"{output.name}.json"


def write_record(output: Path, record: Record) -> None:
    """Write an output's record (after the output itself, so that a record always describes a
    complete file). OSError propagates."""
    text = json.dumps(asdict(record), indent=1, sort_keys=True) + "\n"
    replace_file(record_path(output), text.encode())


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def done_record(output: Path, settings_key: str) -> Record | None:
    """The output's record when the output exists, unchanged, made with these settings."""
    try:
        record = Record(**json.loads(record_path(output).read_text(encoding="utf-8")))
        data = output.read_bytes()
    except (OSError, ValueError, TypeError):
        return None
    if record.settings_key != settings_key:
        log.info("%s was made with other settings: encoding it again", output)
        return None
    if len(data) != record.bytes or digest(data) != record.sha256:
        log.info("%s changed since it was written: encoding it again", output)
        return None
    return record


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when both names lead to one existing file."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
