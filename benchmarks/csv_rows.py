"""The benchmark scripts' resumable CSV files: one row appended per finished encode, so a killed
run loses only the encode in progress and a re-run skips the rows already there; and the
JSON-lines records of the probes that measure files rather than encode them.

The scripts run as ``python benchmarks/NAME.py`` (this folder is then on ``sys.path``), also
with another checkout's lnic on ``PYTHONPATH``, so this module imports nothing of lnic.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path


def read_rows(path: Path) -> list[dict[str, str]]:
    """Every row of ``path`` (none if it does not exist yet)."""
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def append_row(path: Path, fields: Sequence[str], row: Mapping[str, object]) -> None:
    """Append ``row`` to ``path``, writing the header of ``fields`` first if the file is new."""
    new = not path.is_file()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        if new:
            writer.writeheader()
        writer.writerow(row)


def emit_json_line(row: Mapping[str, object], out: Path | None) -> None:
    """Print ``row`` as one JSON line, and append it to ``out`` when one is given."""
    line = json.dumps(row)
    print(line, flush=True)
    if out is not None:
        with out.open("a") as fh:
            fh.write(line + "\n")
