"""The reference step: the unit that lnic's timings are reported in.

``shared/bench/refstep.py`` times one training step of a fixed, naive overfitted-codec model
(~2 kMAC/px, torch's own kernels) and prints its seconds. The project's machines differ by up to
2x in speed, and one machine's speed wanders within the hour, so an encode or decode time is
reported as a multiple of this step measured in the same run: "360 reference steps" survives a
change of machine, "287 s" does not.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

from lnic.bench.data import shared_dir


def reference_step_script() -> Path:
    """``shared/bench/refstep.py`` (``$LNIC_SHARED`` or ``../shared``)."""
    shared = shared_dir()
    script = shared / "bench" / "refstep.py" if shared else None
    if script is None or not script.is_file():
        raise FileNotFoundError("../shared/bench/refstep.py not found (set LNIC_SHARED)")
    return script


def reference_steps(n: int = 1, env: dict[str, str] | None = None) -> list[float]:
    """Seconds of ``n`` reference steps, each in a fresh process (``env``: its environment,
    default this process's)."""
    script = reference_step_script()
    times = []
    for _ in range(n):
        run = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        times.append(float(run.stdout.strip().splitlines()[-1]))
    return times


def in_reference_steps(seconds: float, before: list[float], after: list[float]) -> float:
    """``seconds`` as a multiple of the median of the reference steps run before and after it."""
    return seconds / statistics.median([*before, *after])
