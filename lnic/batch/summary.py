"""The summary of a batch run, ``OUTDIR/summary.csv``: one row per input, in input order.

Columns: ``file`` (the input), ``output``, ``status`` (``ok``: encoded now; ``skipped``: the
output already existed with the same settings; ``failed``: no output, see ``error``),
``bytes``, ``bpp``, ``psnr`` (dB, RGB), ``seconds`` (of the encode that made the file, also
for a skipped one), ``settings`` (the settings' key) and ``error`` (one line). The file is
rewritten whole after every finished file, so an interrupted run leaves a current summary.
"""

from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Literal

from lnic.outputs import replace_file

Status = Literal["ok", "skipped", "failed"]


@dataclass(frozen=True)
class Row:
    """One input's line in the summary."""

    file: str
    output: str
    status: Status
    bytes: int | None = None
    bpp: float | None = None
    psnr: float | None = None
    seconds: float | None = None
    settings: str = ""
    error: str = ""

    def describe(self) -> str:
        """The row as the progress line says it."""
        if self.status == "failed":
            return f"failed: {self.error}"
        what = "ok" if self.status == "ok" else "skipped (done with these settings)"
        return (
            f"{what}, {self.bytes} bytes, {self.bpp:.4f} bpp, PSNR-RGB {self.psnr:.3f} dB, "
            f"{self.seconds:.1f} s"
        )


COLUMNS = tuple(f.name for f in fields(Row))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def summary_text(rows: list[Row]) -> str:
    """The CSV text of ``rows`` (header line first)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(v) for v in astuple(row)])
    return buf.getvalue()


def write_summary(path: Path, rows: list[Row]) -> None:
    """Replace the summary file atomically (OSError propagates)."""
    replace_file(path, summary_text(rows).encode())


def read_summary(path: Path) -> list[dict[str, str]]:
    """The rows of a summary file as dicts of strings (for tests and scripts)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
