"""Per-image results CSV: one row per (image, codec, setting), written so a run can resume.

Rows are appended as whole lines followed by flush + fsync, so an interrupted run leaves at
worst one incomplete trailing line; :func:`load_results` drops such a line and the next append
first rewrites the file without it (through a temporary file and :func:`os.replace`). A new file
is created the same way, so a reader never sees a file without its header.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "Result",
    "ResultsFile",
    "atomic_write_text",
    "load_results",
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
)
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


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


class ResultsFile:
    """A results CSV that ``lnic bench`` appends to, one fsync'ed row at a time.

    ``columns`` is the header it writes and expects (default :data:`COLUMNS`); a subset of it
    suits files whose layout is fixed elsewhere (``benchmarks/kodak/lnic.csv``).
    """

    def __init__(self, path: str | os.PathLike[str], columns: tuple[str, ...] = COLUMNS) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self._checked = False

    def load(self) -> list[Result]:
        """All complete rows currently in the file."""
        return load_results(self.path)

    def done_keys(self) -> set[tuple[str, str, str]]:
        """(image, codec, setting) of the rows already in the file."""
        return {r.key for r in self.load()}

    def _prepare(self) -> None:
        """Create the file with its header, or rewrite it without broken rows."""
        if self._checked:
            return
        if not self.path.exists() or b"\n" not in self.path.read_bytes()[:4096]:
            # missing, empty, or only part of a header line
            atomic_write_text(self.path, _csv_text([list(self.columns)]))
        else:
            with self.path.open(encoding="utf-8", newline="") as fh:
                header = next(csv.reader(fh), [])
            if tuple(header) != self.columns:
                raise ValueError(
                    f"{self.path}: header differs from the expected one; refusing to append to it"
                )
            rows, dropped = _read(self.path)
            if dropped:
                atomic_write_text(
                    self.path,
                    _csv_text([list(self.columns)] + [r.to_row(self.columns) for r in rows]),
                )
        self._checked = True

    def append(self, result: Result) -> None:
        """Append one row as a complete line, flushed and fsync'ed."""
        self._prepare()
        line = _csv_text([result.to_row(self.columns)])
        with self.path.open("a", encoding="utf-8", newline="") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
