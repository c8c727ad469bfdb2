"""Where a result comes from: the commit of the code that made it and the machine it ran on.

Every result file the benchmarks write records both, so that a row measured months ago can be
traced to its code and hardware.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path, PurePosixPath

__all__ = ["git_commit", "machine_info", "short_commit"]

log = logging.getLogger(__name__)

#: the checkout lnic is imported from (``<repo>/lnic/bench/provenance.py``)
_REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    out = subprocess.run(
        ["git", *args], cwd=_REPO, capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout


def _changes_code(status_line: str) -> bool:
    """Whether a ``git status --porcelain`` line names a file that can change a result.

    Benchmark runs write their results (and notes) into the tree under ``benchmarks/``: those
    files, and markdown anywhere, do not make a commit dirty; scripts under ``benchmarks/`` do.
    """
    path = PurePosixPath(status_line[3:].split(" -> ")[-1].strip('"'))
    if path.suffix == ".md":
        return False
    return path.parts[0] != "benchmarks" or path.suffix == ".py"


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """``git rev-parse HEAD`` of lnic's checkout, ``-dirty`` when tracked code has changes.

    ``unknown`` when lnic does not run from a git checkout (an installed wheel) or git is
    missing.
    """
    try:
        if Path(_git("rev-parse", "--show-toplevel").strip()).resolve() != _REPO:
            return "unknown"
        head = _git("rev-parse", "HEAD").strip()
        status = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("no git commit for %s: %s", _REPO, exc)
        return "unknown"
    dirty = any(_changes_code(line) for line in status.splitlines() if line.strip())
    return head + ("-dirty" if dirty else "")


def short_commit(commit: str) -> str:
    """The 7-character form of a commit as :func:`git_commit` writes it (``-dirty`` kept)."""
    head, dirty, _ = commit.partition("-dirty")
    return head[:7] + dirty if len(head) == 40 else commit


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, object]:
    """The machine a run is on: platform, CPU model and count, Python, threads and load.

    ``threads`` is ``OMP_NUM_THREADS`` as set for the run (``None`` when unset); the load
    average at the time of the call tells whether other jobs shared the cores.
    """
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": [round(v, 2) for v in load] if load else None,
    }
