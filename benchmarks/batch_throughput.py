"""Batch throughput: two one-thread workers against one two-thread encode at a time.

    python benchmarks/batch_throughput.py            # writes batch_throughput.json and .md
    python benchmarks/batch_throughput.py --repeats 2 --steps 60    # a quicker look

Four full-size dev-set images (``../shared/datasets/wiki-dev/dev01, dev07, dev13, dev19``,
768x512) are encoded with the fast preset by ``lnic encode IMAGES -o OUTDIR`` in a fresh
process per run, once as ``--workers 2 --threads 1`` (two files at a time, one thread each)
and once as ``--workers 1 --threads 2`` (one file at a time on both threads); the wall time of
each run is the throughput measure. With ``--repeats N`` the two alternate N times, so that a
change in the machine's load hits both. ``python ../shared/bench/refstep.py`` runs before and
after, and every time is also given in reference steps (the machines differ by up to 2x).
Run it on an otherwise idle machine: other work shares the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lnic.bench.data import shared_dir
from lnic.bench.provenance import git_commit, machine_info
from lnic.bench.refstep import reference_steps

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "batch_throughput.json"
IMAGES = ("dev01.png", "dev07.png", "dev13.png", "dev19.png")
MODES = {
    "2 workers x 1 thread": ["--workers", "2", "--threads", "1"],
    "1 worker x 2 threads": ["--workers", "1", "--threads", "2"],
}


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def _images() -> list[Path]:
    shared = shared_dir()
    folder = shared / "datasets" / "wiki-dev" if shared else None
    paths = [folder / name for name in IMAGES] if folder else []
    if not paths or not all(p.is_file() for p in paths):
        raise SystemExit("../shared/datasets/wiki-dev/dev*.png not found (set LNIC_SHARED)")
    return paths


def _batch_run(cmd: list[str], outdir: Path) -> dict[str, object]:
    """One ``lnic encode`` batch run into an empty folder: its wall time and its rows."""
    t = time.perf_counter()
    run = subprocess.run(
        [*cmd, "-o", str(outdir)], capture_output=True, text=True, env=_env(), check=False
    )
    wall = time.perf_counter() - t
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}): {run.stderr.strip()}")
    report = json.loads(run.stdout.splitlines()[-1])
    rows = [
        {k: row[k] for k in ("file", "bytes", "bpp", "psnr", "seconds")} for row in report["files"]
    ]
    return {"wall_s": wall, "files": rows}


def measure(repeats: int, steps: int | None) -> dict[str, object]:
    images = [str(p) for p in _images()]
    base = [sys.executable, "-m", "lnic.cli", "encode", *images, "--preset", "fast"]
    base += ["--quiet", "--json"] + (["--steps", str(steps)] if steps else [])
    ref_before = reference_steps(1, env=_env())[0]
    runs: dict[str, list[dict[str, object]]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for mode, flags in MODES.items():
                outdir = Path(tmp) / f"{r}-{flags[1]}x{flags[3]}"
                runs[mode].append(_batch_run([*base, *flags], outdir))
    ref = statistics.mean([ref_before, reference_steps(1, env=_env())[0]])
    modes = {}
    for mode, results in runs.items():
        wall = statistics.median(float(x["wall_s"]) for x in results)
        modes[mode] = {
            "flags": " ".join(MODES[mode]),
            "median_wall_s": wall,
            "refsteps": wall / ref,
            "images_per_minute": 60 * len(images) / wall,
            "runs": results,
        }
    two, one = (modes[m]["median_wall_s"] for m in MODES)
    return {
        "commit": git_commit(),
        "machine": machine_info(),
        "command": " ".join([Path(base[0]).name, *base[1:4], "IMAGES", *base[4 + len(images) :]]),
        "images": [Path(p).name for p in images],
        "steps": steps,
        "repeats": repeats,
        "refstep_s": ref,
        "modes": modes,
        "speedup_of_two_workers": one / two,
    }


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Batch throughput",
        "",
        f"`python benchmarks/batch_throughput.py --repeats {r['repeats']}"
        + (f" --steps {r['steps']}`" if r["steps"] else "`")
        + f" at commit {r['commit'][:12]}: `{r['command']} -o OUTDIR` plus the flags below, "
        f"on {', '.join(r['images'])} (768x512); {m.get('processor')}, {m.get('cpu_count')} "
        f"cores, load average {m.get('load_average')}.",
        f"Reference step (`python ../shared/bench/refstep.py`, mean of a run before and after): "
        f"{r['refstep_s']:.3f} s. Wall times are medians over the repeats.",
        "",
        "| mode | flags | wall | in reference steps | images per minute |",
        "|---|---|---|---|---|",
    ]
    for mode, v in r["modes"].items():
        lines.append(
            f"| {mode} | `{v['flags']}` | {v['median_wall_s']:.1f} s | {v['refsteps']:.1f} "
            f"| {v['images_per_minute']:.2f} |"
        )
    lines += [
        "",
        f"Two one-thread workers finish the four images {r['speedup_of_two_workers']:.2f}x as "
        "fast as one two-thread encode at a time.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="alternations of the two modes")
    parser.add_argument("--steps", type=int, help="training steps (default: the fast preset's)")
    args = parser.parse_args()
    result = measure(args.repeats, args.steps)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    OUT.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
