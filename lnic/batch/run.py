"""A batch run: plan the jobs, skip the outputs already done, run the rest locally or on Ray,
write each output and its record on the driver, and keep ``OUTDIR/summary.csv`` current."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lnic.batch.jobs import Encoded, Failed, Job, Settings
from lnic.batch.plan import (
    SUMMARY_NAME,
    Record,
    collect_inputs,
    digest,
    done_record,
    output_paths,
    prepare_outdir,
    same_file,
    write_record,
)
from lnic.batch.summary import Row, write_summary
from lnic.errors import LnicError
from lnic.outputs import replace_file

log = logging.getLogger(__name__)

Report = Callable[[Row, int, int, tuple[str, ...]], None]
"""Called once per input as it is settled: the row, how many are settled, how many in all,
and the image reader's notices for that file."""


def default_workers() -> int:
    """The CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class BatchOptions:
    """How a batch run is carried out (the outputs do not depend on it, the thread count
    aside)."""

    workers: int | None = None
    """Local: processes at once (default: the CPU cores). Ray: tasks in flight (default: the
    cluster's CPUs / ``threads``)."""
    threads: int = 1
    """Threads of each encode."""
    ray: str | None = None
    """A Ray cluster's address; None runs locally."""
    retries: int = 2
    """Ray only: how often a task whose worker died is run again."""


def _row(job: Job, outcome: Encoded | Failed) -> Row:
    """Write a finished job's output and record; its summary row."""
    key = job.settings.key()
    if isinstance(outcome, Failed):
        return Row(job.input, job.output, "failed", settings=key, error=outcome.error)
    output = Path(job.output)
    try:
        replace_file(output, outcome.stats.data)
        record = Record(
            settings_key=key,
            settings=job.settings.describe(),
            bytes=len(outcome.stats.data),
            sha256=digest(outcome.stats.data),
            width=outcome.stats.width,
            height=outcome.stats.height,
            bpp=outcome.stats.bpp,
            psnr=outcome.stats.psnr,
            seconds=outcome.stats.seconds,
        )
        write_record(output, record)
    except OSError as exc:
        error = f"cannot write {job.output} ({exc.strerror or exc})"
        return Row(job.input, job.output, "failed", settings=key, error=error)
    stats = outcome.stats
    return Row(
        job.input, job.output, "ok", len(stats.data), stats.bpp, stats.psnr, stats.seconds, key,
    )  # fmt: skip


def _skipped(job: Job, record: Record) -> Row:
    return Row(
        job.input, job.output, "skipped", record.bytes, record.bpp, record.psnr,
        record.seconds, record.settings_key,
    )  # fmt: skip


def _runner(jobs: list[Job], options: BatchOptions) -> Iterator[tuple[Job, Encoded | Failed]]:
    if options.ray:
        from lnic.batch.ray_runner import run_ray

        return run_ray(jobs, options.ray, options.threads, options.workers, options.retries)
    from lnic.batch.local import run_local

    workers = options.workers or default_workers()
    return run_local(jobs, min(workers, len(jobs)), options.threads)


def run_batch(
    inputs: list[str],
    outdir: str | os.PathLike,
    settings: Settings,
    options: BatchOptions = BatchOptions(),
    report: Report | None = None,
) -> list[Row]:
    """Encode ``inputs`` (files, or folders of images) into ``outdir``; returns the summary's
    rows (also written to ``OUTDIR/summary.csv``). Failures of single files are rows with
    status ``failed``; an LnicError means the run could not start (no inputs, an unusable
    OUTDIR, clashing output names, no Ray cluster)."""
    outdir = Path(outdir)
    if options.ray:  # fail before any folder is made: no ray, or no head at that address
        from lnic.batch.ray_runner import check_reachable, import_ray

        import_ray()
        check_reachable(options.ray)
    files = collect_inputs(inputs)
    outputs = output_paths(files, outdir)
    prepare_outdir(outdir)
    key = settings.key()
    rows: list[Row | None] = [None] * len(files)
    todo: list[Job] = []
    settled = 0

    def settle(index: int, row: Row, notes: tuple[str, ...] = ()) -> None:
        nonlocal settled
        rows[index] = row
        settled += 1
        try:
            write_summary(outdir / SUMMARY_NAME, [r for r in rows if r is not None])
        except OSError as exc:
            raise LnicError(f"{outdir / SUMMARY_NAME}: cannot write ({exc.strerror})") from exc
        if report:
            report(row, settled, len(files), notes)

    for index, (name, output) in enumerate(zip(files, outputs)):
        job = Job(index, name, str(output), settings, options.threads)
        if same_file(name, output):
            settle(index, Row(name, str(output), "failed", settings=key, error="is its own output"))
        elif (record := done_record(output, key)) is not None:
            settle(index, _skipped(job, record))
        else:
            todo.append(job)
    if todo:
        for job, outcome in _runner(todo, options):
            notes = outcome.notes if isinstance(outcome, Encoded) else ()
            settle(job.index, _row(job, outcome), notes)
    return [r for r in rows if r is not None]
