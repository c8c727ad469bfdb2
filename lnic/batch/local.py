"""Running jobs on local worker processes.

Each worker is a fresh (spawned) Python process that sets its thread count before it loads
the encoder and then encodes one job at a time, sent over its own pipe. The driver knows
which job each worker holds, so a worker that dies (SIGKILL, the OOM killer, a crash in native
code) fails exactly that job; a new worker takes the remaining jobs. A process pool that
breaks as a whole on one death (``concurrent.futures``) could not tell which file killed it.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from lnic.batch.jobs import Encoded, Failed, Job, run_job

log = logging.getLogger(__name__)


LOG_FORMAT = "%(levelname)s %(name)s: {file}: %(message)s"
"""A worker's log lines (the encoder's warnings) on stderr, naming the file being encoded."""


def _worker_main(conn: Connection, threads: int, log_level: int) -> None:
    """A worker's loop: receive a job, send back its outcome, until the driver sends None or
    goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    from lnic.threads import set_threads

    set_threads(threads)
    handler = logging.StreamHandler()
    logging.basicConfig(level=log_level, handlers=[handler])
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        handler.setFormatter(logging.Formatter(LOG_FORMAT.replace("{file}", job.input)))
        conn.send(run_job(job))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    job: Job | None = field(default=None)


def _start(ctx, threads: int) -> _Worker:
    parent, child = ctx.Pipe()
    level = logging.getLogger().getEffectiveLevel()  # the driver's: --quiet, -v
    process = ctx.Process(target=_worker_main, args=(child, threads, level), daemon=True)
    process.start()
    child.close()
    return _Worker(process, parent)


def death_message(exitcode: int | None) -> str:
    """Why a worker ended without an answer, in words."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the worker process was killed by {name} while encoding"
    return f"the worker process ended (exit code {exitcode}) while encoding"


def _collect(worker: _Worker) -> Encoded | Failed | None:
    """The outcome a worker has sent, a :class:`Failed` if it died, None if neither yet."""
    if worker.conn.poll():
        try:
            return worker.conn.recv()
        except (EOFError, OSError):
            pass
    elif worker.process.is_alive():
        return None
    worker.process.join(timeout=10)
    return Failed(death_message(worker.process.exitcode))


def _assign(worker: _Worker, pending: deque[Job]) -> bool:
    """Send the next job to an idle worker; False (the job stays pending) if it has died."""
    try:
        worker.conn.send(pending[0])
    except OSError:
        worker.process.join(timeout=10)
        return False
    worker.job = pending.popleft()
    return True


def run_local(
    jobs: Iterable[Job], workers: int, threads: int
) -> Iterator[tuple[Job, Encoded | Failed]]:
    """Encode ``jobs`` on up to ``workers`` processes of ``threads`` threads each; yields
    ``(job, Encoded | Failed)`` as each one finishes. Ending the iteration early (an
    exception, Ctrl-C) kills the workers."""
    ctx = multiprocessing.get_context("spawn")
    pending = deque(jobs)
    pool: list[_Worker] = []
    try:
        while pending or any(w.job for w in pool):
            for worker in [w for w in pool if w.job is None]:
                if pending and not _assign(worker, pending):
                    pool.remove(worker)
            while pending and len(pool) < workers:
                worker = _start(ctx, threads)
                pool.append(worker)
                if not _assign(worker, pending):
                    raise RuntimeError("a new worker process could not take a job")
            busy = [w for w in pool if w.job is not None]
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                outcome = _collect(worker)
                if outcome is None:
                    continue
                job, worker.job = worker.job, None
                if isinstance(outcome, Failed) and not worker.process.is_alive():
                    log.info("%s: %s", job.input, outcome.error)
                    pool.remove(worker)
                yield job, outcome
    finally:
        _stop(pool)


def _stop(pool: list[_Worker]) -> None:
    """Ask idle workers to end, kill busy ones (an interrupted run), and reap them all."""
    for worker in pool:
        try:
            if worker.job is None:
                worker.conn.send(None)
            else:
                worker.process.kill()
        except OSError:
            worker.process.kill()
    for worker in pool:
        worker.process.join(timeout=10)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
