"""Running jobs as Ray tasks on a cluster (``lnic encode DIR -o OUTDIR --ray HOST:PORT``).

The driver reads every input and sends its pixels to the task; the task returns the bytes and
the statistics, and the driver writes the outputs. Cluster nodes therefore need lnic with its
encoder installed, but no shared filesystem. A task whose worker dies is run again by Ray up
to ``retries`` times; the encoder's own failures (a bad image) are not retried.

``ray`` is imported only here, and this module only when ``--ray`` is given.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Iterator
from dataclasses import replace

import numpy as np

from lnic.batch.jobs import Encoded, Failed, Job, Settings, encode_pixels, kill_hook, one_line
from lnic.errors import LnicError

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'lnic[cluster]'"


def import_ray():
    """The ``ray`` module, or an LnicError whose one line says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise LnicError(f"--ray needs ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


CONNECT_TIMEOUT_S = 10.0
"""How long the driver tries to reach a ``HOST:PORT`` address before giving up (Ray itself
would keep retrying for minutes)."""


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in one line, before Ray starts, when ``HOST:PORT`` accepts no connection (a wrong
    address, a head that is not running); other address forms are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "/" in host:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LnicError(f"--ray {address}: no Ray head answers there ({reason})") from exc


def encode_task(
    name: str, pixels: np.ndarray, icc_profile: bytes | None, settings: Settings, threads: int
) -> Encoded | Failed:
    """The body of a Ray task: encode the pixels of the file ``name``, or say in one line why
    not."""
    try:
        return encode_pixels(pixels, icc_profile, settings, threads, kill_hook(name))
    except Exception as exc:  # the file's row, not a retry: the encoder is deterministic
        return Failed(one_line(exc))


def _load(job: Job):
    from lnic.image_io import load_image

    return load_image(job.input, job.input)


def run_ray(
    jobs: Iterable[Job],
    address: str,
    threads: int,
    workers: int | None = None,
    retries: int = 2,
) -> Iterator[tuple[Job, Encoded | Failed]]:
    """Encode ``jobs`` as Ray tasks of ``threads`` CPUs on the cluster at ``address``; yields
    ``(job, Encoded | Failed)`` as each finishes. At most ``workers`` tasks are in flight
    (default: the cluster's CPUs divided by ``threads``), which also bounds the images held
    in memory by the driver."""
    ray = import_ray()
    check_reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as exc:
        raise LnicError(f"--ray {address}: cannot connect ({one_line(exc)})") from exc
    try:
        if workers is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            workers = max(1, cpus // threads)
        task = ray.remote(encode_task).options(num_cpus=threads, max_retries=retries)
        in_flight: dict = {}
        for job in jobs:
            try:
                image = _load(job)
            except LnicError as exc:
                yield job, Failed(one_line(exc))
                continue
            ref = task.remote(job.input, image.pixels, image.icc_profile, job.settings, threads)
            in_flight[ref] = (job, tuple(image.notes))
            while len(in_flight) >= workers:
                yield _next_done(ray, in_flight)
        while in_flight:
            yield _next_done(ray, in_flight)
    finally:
        ray.shutdown()


def _next_done(ray, in_flight: dict) -> tuple[Job, Encoded | Failed]:
    """Wait for one task; its outcome (a task that Ray gave up on is a :class:`Failed`)."""
    (ref,), _ = ray.wait(list(in_flight), num_returns=1)
    job, notes = in_flight.pop(ref)
    try:
        outcome = ray.get(ref)
    except Exception as exc:  # the worker died more than `retries` times, or the node left
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        log.warning("%s: %s", job.input, lines[0])
        return job, Failed(f"the Ray task failed ({type(exc).__name__}: {lines[0][:300]})")
    if isinstance(outcome, Encoded):
        outcome = replace(outcome, notes=notes)
    return job, outcome
