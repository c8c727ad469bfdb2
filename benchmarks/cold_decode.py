"""Cold decode: what a user waits for when running ``lnic decode`` once, in a fresh process.

    python benchmarks/cold_decode.py                 # writes cold_decode.json and cold_decode.md
    python benchmarks/cold_decode.py --lnic lnic     # time an installed ``lnic`` script instead

Measured, each in fresh processes, after one warm-up run (which fills numba's cache):

- ``lnic decode kodim01.lnic -o out.png`` (``benchmarks/decode_speed/kodim01.lnic``, 768x512):
  the median wall time of ``--runs`` processes;
- the same decode split by a driver process into interpreter start (the process's wall time
  minus what the driver timed), the imports ``lnic decode`` makes before decoding, the decode
  (with whatever the decoder loads lazily, e.g. its numba kernels) and the PNG write;
- the heaviest imports of one such run (``python -X importtime``, cumulative);
- ``lnic --help`` and ``python -c pass``;
- ``python ../shared/bench/refstep.py`` (one naive training step, the project's reference
  workload) before and after, so that each time is also given in reference steps.

By default the processes run this checkout's code (``python -m lnic.cli`` with the checkout on
``PYTHONPATH``); the thread variables of the calling shell are passed on as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lnic.bench.provenance import git_commit, machine_info
from lnic.bench.refstep import reference_steps

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STREAM = HERE / "decode_speed" / "kodim01.lnic"
OUT = HERE / "cold_decode.json"

DRIVER = """
import sys, time
t0 = time.perf_counter()
import lnic.cli, lnic.commands
from lnic.decoder import decode_bytes
from lnic.image_formats import image_bytes, output_format
from lnic.outputs import replace_file
from pathlib import Path
t1 = time.perf_counter()
image = decode_bytes(open(sys.argv[1], "rb").read())
t2 = time.perf_counter()
replace_file(Path(sys.argv[2]), image_bytes(image, output_format(sys.argv[2], ".png")))
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""
"""What ``lnic decode`` does, timed from inside: imports, decode, PNG write."""


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _wall(cmd: list[str], cwd: Path) -> tuple[float, str, str]:
    t = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=_env(), check=False)
    wall = time.perf_counter() - t
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}): {run.stderr.strip()}")
    return wall, run.stdout, run.stderr


def _median_wall(cmd: list[str], cwd: Path, runs: int) -> dict[str, object]:
    _wall(cmd, cwd)  # warm-up: file cache, numba's kernel cache
    walls = [_wall(cmd, cwd)[0] for _ in range(runs)]
    return {"median_s": statistics.median(walls), "runs_s": walls}


def _breakdown(cwd: Path, runs: int) -> dict[str, float]:
    cmd = [sys.executable, "-c", DRIVER, str(STREAM), str(cwd / "driver.png")]
    _wall(cmd, cwd)
    parts: list[tuple[float, float, float, float]] = []
    for _ in range(runs):
        wall, out, _ = _wall(cmd, cwd)
        imports, decode, write = (float(x) for x in out.split())
        parts.append((wall - imports - decode - write, imports, decode, write))
    names = ("interpreter_start_and_exit_s", "imports_s", "decode_s", "png_write_s")
    return {name: statistics.median(p[i] for p in parts) for i, name in enumerate(names)}


def _heaviest_imports(cwd: Path, count: int = 8) -> list[tuple[str, float]]:
    """The top-level imports of one decode with the largest cumulative time (``-X importtime``:
    a package's time includes the imports it makes)."""
    cmd = [sys.executable, "-X", "importtime", "-c", DRIVER, str(STREAM), str(cwd / "i.png")]
    _, _, err = _wall(cmd, cwd)
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(2)) == 1:  # one space: imported by the driver itself
            rows.append((m.group(3), int(m.group(1)) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:count]


def measure(lnic_cmd: list[str], runs: int) -> dict[str, object]:
    ref_before = reference_steps(1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        decode = _median_wall([*lnic_cmd, "decode", str(STREAM), "-o", "out.png"], cwd, runs)
        help_ = _median_wall([*lnic_cmd, "--help"], cwd, runs)
        bare = _median_wall([sys.executable, "-c", "pass"], cwd, runs)
        parts = _breakdown(cwd, runs)
        heavy = _heaviest_imports(cwd)
    ref = statistics.mean([ref_before, reference_steps(1)[0]])
    return {
        "commit": git_commit(),
        "machine": machine_info(),
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")},
        "command": " ".join(lnic_cmd),
        "stream": str(STREAM.relative_to(REPO)),
        "refstep_s": ref,
        "decode": {**decode, "refsteps": decode["median_s"] / ref},
        "help": {**help_, "refsteps": help_["median_s"] / ref},
        "python_pass": bare,
        "breakdown": parts,
        "heaviest_imports_s": heavy,
    }


def markdown(r: dict) -> str:
    ref = r["refstep_s"]
    b = r["breakdown"]
    lines = [
        "# Cold decode",
        "",
        f"`python benchmarks/cold_decode.py` at commit {r['commit'][:12]}, command "
        f"`{r['command']}`; {r['machine'].get('processor')}, {r['machine'].get('cpu_count')} "
        f"cores, load average {r['machine'].get('load_average')} (threads: {r['threads']}).",
        "Median wall time of fresh processes after one warm-up; reference step "
        f"(`python ../shared/bench/refstep.py`, mean of a run before and after): {ref:.3f} s.",
        "",
        "| what | median wall | in reference steps |",
        "|---|---|---|",
        f"| `lnic decode kodim01.lnic -o out.png` | {r['decode']['median_s']:.3f} s "
        f"| {r['decode']['refsteps']:.2f} |",
        f"| `lnic --help` | {r['help']['median_s']:.3f} s | {r['help']['refsteps']:.2f} |",
        f"| `python -c pass` | {r['python_pass']['median_s']:.3f} s "
        f"| {r['python_pass']['median_s'] / ref:.2f} |",
        "",
        "The decode, split by a driver process that does what `lnic decode` does (medians):",
        "",
        "| part | seconds |",
        "|---|---|",
    ]
    lines += [f"| {name.removesuffix('_s').replace('_', ' ')} | {v:.3f} |" for name, v in b.items()]
    lines += ["", "Heaviest imports of one decode (`-X importtime`, cumulative):", ""]
    lines += [f"- `{name}`: {sec:.3f} s" for name, sec in r["heaviest_imports_s"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lnic", help="an lnic command to time (default: python -m lnic.cli)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cmd = [args.lnic] if args.lnic else [sys.executable, "-m", "lnic.cli"]
    result = measure(cmd, args.runs)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    OUT.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
