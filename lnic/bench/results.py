"""Per-image results CSV: one row per (image, codec, setting), written so a run can resume.

Each row records the commit of the code that made it (:func:`lnic.bench.provenance.git_commit`),
so that a run resumed across commits shows which rows came from which code. Rows are appended
as whole lines followed by flush + fsync, so an interrupted run leaves at worst one incomplete
trailing line; :func:`load_results` drops such a line and the next append first rewrites the
file without it (through a temporary file and :func:`os.replace`). A new file is created the
same way, so a reader never sees a file without its header.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COLUMNS",
    "COLUMN_SETS",
    "REQUIRED_COLUMNS",
    "Result",
    "ResultsFile",
    "atomic_write_text",
    "load_results",
    "locked_folder",
]

log = logging.getLogger(__name__)

#: header of the CSV files written by ``lnic bench``
COLUMNS = (
    "image",
    "codec",
    "setting",
    "width",
    "height",
    "bytes",
    "bpp",
    "psnr_rgb",
    "psnr_yuv",
    "ms_ssim",
    "encode_s",
    "decode_s",
    "commit",
)
#: the layouts ``lnic bench --columns`` names: every column, or the rate and PSNR-RGB only
#: (the layout of lnic's Kodak rows, whose runs skip the MS-SSIM and PSNR-YUV they do not use)
COLUMN_SETS = {
    "full": COLUMNS,
    "short": tuple(c for c in COLUMNS if c not in ("psnr_yuv", "ms_ssim")),
}
#: columns a results CSV written by someone else must have to be read
REQUIRED_COLUMNS = ("image", "codec", "setting", "bpp", "psnr_rgb")

_FORMATS = {
    "bpp": "{:.8f}",
    "psnr_rgb": "{:.6f}",
    "psnr_yuv": "{:.6f}",
    "ms_ssim": "{:.8f}",
    "encode_s": "{:.5f}",
    "decode_s": "{:.5f}",
}


@dataclass
class Result:
    """One image coded at one setting."""

    image: str
    codec: str
    setting: str
    width: int
    height: int
    bytes: int
    bpp: float
    psnr_rgb: float
    psnr_yuv: float = math.nan
    ms_ssim: float = math.nan
    encode_s: float = math.nan
    decode_s: float = math.nan
    #: ``git_commit()`` of the code that made the row (empty when unknown)
    commit: str = ""
    #: columns beyond :data:`COLUMNS` found in a CSV (e.g. ``mac_per_pixel``), as strings
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the row for resuming: (image, codec, setting)."""
        return (self.image, self.codec, self.setting)

    def to_row(self, columns: tuple[str, ...] = COLUMNS) -> list[str]:
        """Cells in ``columns`` order (missing values are empty)."""
        out = []
        for col in columns:
            value = getattr(self, col)
            if isinstance(value, float):
                if math.isnan(value):
                    out.append("")
                elif math.isinf(value):
                    out.append("inf" if value > 0 else "-inf")
                else:
                    out.append(_FORMATS.get(col, "{}").format(value))
            else:
                out.append(str(value))
        return out


def _float(text: str | None) -> float:
    if text is None or text.strip() == "":
        return math.nan
    return float(text)


def _int(text: str | None) -> int:
    if text is None or text.strip() == "":
        return 0
    return int(float(text))


def _parse_row(row: dict[str, str | None]) -> Result:
    width, height, nbytes = _int(row.get("width")), _int(row.get("height")), _int(row.get("bytes"))
    bpp = _float(row.get("bpp"))
    if math.isnan(bpp) and width and height and nbytes:
        bpp = 8.0 * nbytes / (width * height)
    extra = {k: v for k, v in row.items() if k not in COLUMNS and k is not None and v is not None}
    return Result(
        image=str(row["image"]),
        codec=str(row["codec"]),
        setting=str(row["setting"]),
        width=width,
        height=height,
        bytes=nbytes,
        bpp=bpp,
        psnr_rgb=_float(row.get("psnr_rgb")),
        psnr_yuv=_float(row.get("psnr_yuv")),
        ms_ssim=_float(row.get("ms_ssim")),
        encode_s=_float(row.get("encode_s")),
        decode_s=_float(row.get("decode_s")),
        commit=row.get("commit") or "",
        extra=extra,
    )


def _read(path: Path) -> tuple[list[Result], bool]:
    """Parse a results CSV; returns the rows and whether anything had to be dropped."""
    text = path.read_text(encoding="utf-8")
    dropped = False
    if text and not text.endswith("\n"):
        # an interrupted append: the last line never got its newline
        text = text[: text.rfind("\n") + 1]
        dropped = True
        log.warning("%s: dropped an incomplete trailing line", path)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        return [], dropped
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: not a results CSV (missing columns {', '.join(missing)})")
    results = []
    for lineno, row in enumerate(reader, start=2):
        if None in row or any(row.get(c) is None for c in header):
            log.warning("%s:%d: wrong number of cells, row skipped", path, lineno)
            dropped = True
            continue
        try:
            results.append(_parse_row(row))
        except (ValueError, KeyError) as exc:
            log.warning("%s:%d: unreadable row skipped (%s)", path, lineno, exc)
            dropped = True
    return results, dropped


def load_results(path: str | os.PathLike[str]) -> list[Result]:
    """Read a results CSV (missing file = no rows); incomplete or broken rows are skipped."""
    p = Path(path)
    if not p.exists():
        return []
    return _read(p)[0]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file through a temporary file in the same folder and ``os.replace``."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; use the usual mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (where ``fcntl`` exists), so that two runs writing
    into one folder side by side never rewrite a file the other is appending to."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


def _header(path: Path) -> tuple[str, ...] | None:
    """The header of a results CSV, or None when it is missing, empty or a partial line."""
    if not path.exists() or b"\n" not in path.read_bytes()[:4096]:
        return None
    with path.open(encoding="utf-8", newline="") as fh:
        return tuple(next(csv.reader(fh), []))


class ResultsFile:
    """A results CSV that ``lnic bench`` appends to, one fsync'ed row at a time.

    ``columns`` is the layout to write (a subset of :data:`COLUMNS`, in its order). Without it,
    an existing file keeps its own layout and a new one gets every column. An existing file
    whose columns are a subset of the layout is rewritten in the layout (its rows keep their
    cells, the new columns stay empty), so a file from before the ``commit`` column gains it on
    its next run; a file with other columns is refused rather than changed.
    """

    def __init__(
        self, path: str | os.PathLike[str], columns: tuple[str, ...] | None = None
    ) -> None:
        self.path = Path(path)
        self.requested = tuple(columns) if columns else None
        self._columns: tuple[str, ...] | None = None

    def load(self) -> list[Result]:
        """All complete rows currently in the file."""
        return load_results(self.path)

    def done_keys(self) -> set[tuple[str, str, str]]:
        """(image, codec, setting) of the rows already in the file."""
        return {r.key for r in self.load()}

    def columns(self) -> tuple[str, ...]:
        """The layout rows are written in; ``ValueError`` when the file cannot take it."""
        header = _header(self.path)
        if header is None:
            return self.requested or COLUMNS
        unknown = [c for c in header if c not in COLUMNS]
        if unknown:
            raise ValueError(
                f"{self.path}: has columns lnic bench does not write ({', '.join(unknown)}); "
                "refusing to append to it"
            )
        if self.requested is None:
            return tuple(c for c in COLUMNS if c in header or c == "commit")
        if not set(header) <= set(self.requested):
            raise ValueError(
                f"{self.path}: its columns ({','.join(header)}) are not among the requested "
                f"ones ({','.join(self.requested)}); refusing to drop them"
            )
        return self.requested

    def _prepare(self) -> tuple[str, ...]:
        """Create the file with its header, or rewrite it without broken rows / in the layout;
        returns the layout."""
        if self._columns is not None:
            return self._columns
        columns = self.columns()
        if _header(self.path) is None:
            atomic_write_text(self.path, _csv_text([list(columns)]))
        else:
            rows, dropped = _read(self.path)
            if dropped or _header(self.path) != columns:
                atomic_write_text(
                    self.path, _csv_text([list(columns)] + [r.to_row(columns) for r in rows])
                )
        self._columns = columns
        return columns

    def append(self, result: Result) -> None:
        """Append one row as a complete line, flushed and fsync'ed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with locked_folder(self.path.parent):
            line = _csv_text([result.to_row(self._prepare())])
            with self.path.open("a", encoding="utf-8", newline="") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
