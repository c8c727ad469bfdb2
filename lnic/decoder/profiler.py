"""Optional timing of the decoder's stages (the decode-speed benchmark reads it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass


@dataclass
class StageTime:
    """Seconds spent in one stage: elapsed (wall) and this process's CPU time."""

    wall: float = 0.0
    cpu: float = 0.0


class Profiler:
    """Wall and CPU seconds per named stage, each exclusive of the stages nested in it.

    Exclusive times let a stage that runs inside another be reported as itself: the synthesis
    pulls the last row pass of the upsampling block by block (so the rows are used while they
    are in cache), and that work counts as upsampling, not synthesis. A stage entered several
    times (or over several decodes) adds up.
    """

    def __init__(self) -> None:
        self.stages: dict[str, StageTime] = {}
        self._nested: list[StageTime] = []  # per open stage: the time of the stages inside it

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name``."""
        wall0, cpu0 = time.perf_counter(), time.process_time()
        nested = StageTime()
        self._nested.append(nested)
        try:
            yield
        finally:
            self._nested.pop()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            total = self.stages.setdefault(name, StageTime())
            total.wall += wall - nested.wall
            total.cpu += cpu - nested.cpu
            if self._nested:
                self._nested[-1].wall += wall
                self._nested[-1].cpu += cpu

    def timings(self) -> dict[str, float]:
        """``{stage: wall seconds, stage + "_cpu": CPU seconds}`` for every stage."""
        out: dict[str, float] = {}
        for name, t in self.stages.items():
            out[name] = t.wall
            out[f"{name}_cpu"] = t.cpu
        return out


class NullProfiler:
    """The profiler of an untimed decode: every stage is a no-op."""

    def stage(self, _name: str) -> AbstractContextManager[None]:
        return nullcontext()


NO_PROFILER = NullProfiler()
