"""``lnic encode`` with several inputs or a folder: a batch run into an output folder
(:mod:`lnic.batch` does the work; this module turns the arguments into its calls and its rows
into lines).

Progress is one line per file on stderr (failures are printed even with ``--quiet``); the
closing line (or ``--json``'s object) goes to stdout. The exit code is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from dataclasses import asdict
from pathlib import Path

from lnic.batch import BatchOptions, Settings, run_batch
from lnic.batch.plan import SUMMARY_NAME
from lnic.batch.summary import Row
from lnic.errors import InputError, LnicError
from lnic.outputs import STDIO


def _check_encoder_installed() -> None:
    """Local workers need torch; say how to install it before any worker starts (the driver
    itself never loads it)."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise LnicError("encoding needs torch, which is not installed: pip install 'lnic[encode]'")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        quality=args.quality,
        lmbda=args.lmbda,
        size=args.size,
        bpp=args.bpp,
        preset=args.preset,
        steps=args.steps,
        seed=args.seed,
    )


def cmd_encode_batch(args: argparse.Namespace) -> int:
    """``lnic encode IN... -o OUTDIR``: one row per input in ``OUTDIR/summary.csv``."""
    if args.output == STDIO:
        raise InputError("-: several inputs need an output folder, not standard output")
    if Path(args.output).suffix.lower() == ".lnic" and not Path(args.output).is_dir():
        raise InputError(
            f"{args.output}: several inputs (or a folder) are written into an output folder; "
            "name one without .lnic"
        )
    if not args.ray:
        _check_encoder_installed()
    prefix = f"lnic {args.command}"

    def report(row: Row, done: int, total: int, notes: tuple[str, ...]) -> None:
        if args.quiet and row.status != "failed":
            return
        for note in notes:
            print(f"{prefix}: note: {note}", file=sys.stderr)
        print(f"{prefix}: [{done}/{total}] {row.file}: {row.describe()}", file=sys.stderr)

    options = BatchOptions(workers=args.workers, threads=args.threads or 1, ray=args.ray)
    rows = run_batch(args.input, args.output, _settings(args), options, report)
    counts = {s: sum(r.status == s for r in rows) for s in ("ok", "skipped", "failed")}
    summary = Path(args.output) / SUMMARY_NAME
    if args.json:
        obj = {"summary": str(summary), **counts, "files": [asdict(r) for r in rows]}
        print(json.dumps(obj))
    elif not args.quiet:
        print(
            f"{len(rows)} files: {counts['ok']} encoded, {counts['skipped']} skipped, "
            f"{counts['failed']} failed; summary in {summary}"
        )
    return 1 if counts["failed"] else 0
