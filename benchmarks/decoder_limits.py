"""Decoder limits benchmark (issue 22): memory and time by aspect ratio, bombs, loop costs, cold
start.

1. **Aspect ratio.** Fresh processes decode crafted files with few latents
   (``tests/data/hostile/make_hostile.py::quiet_bitstream``: all latents the table's likeliest
   symbol, the smallest file of each size) of 16x16384, 16384x16 and 4096x4096 pixels and of
   the same pixel counts at 4:3; each reports its peak resident memory (``VmHWM``: the
   process's own ``ru_maxrss``, which after a fork-and-exec can also hold the parent's) and its
   decode time, next to the peak of a process that only imports lnic.
2. **Bombs.** The corpus's bombs (``tests/data/hostile/bomb_*.lnic``) and its over-the-limit
   file, decoded in fresh processes: time to the refusal.
3. **Loop costs.** In-process CPU time of the entropy decoding with each loop (numpy,
   compiled) on files of few and of many latents per step, fitted to ``a * steps + b *
   latents``: the figures behind ``lnic.bitstream.latent_coding.loop_choice.COSTS``.
4. **Cold start.** ``python -c "import lnic; lnic.decode(open(f, 'rb').read())"`` on a full
   768x512 file in fresh processes: the numpy loop, the compiled loop with a cold and with a
   warm numba cache, and the automatic choice; ``../shared/bench/refstep.py`` (one training
   step of a reference model) in the same run turns times into reference steps.

    OMP_NUM_THREADS=1 python benchmarks/decoder_limits.py  # writes decoder_limits.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from lnic.bench.provenance import git_commit, machine_info  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HOSTILE = REPO / "tests" / "data" / "hostile"
KODIM01 = HERE / "decode_speed" / "kodim01.lnic"
REFSTEP = REPO.parent / "shared" / "bench" / "refstep.py"
sys.path.insert(0, str(HOSTILE))

SHAPES = [  # (width, height)
    (16, 16384),
    (16384, 16),
    (592, 443),  # 262,256 pixels at 4:3, the pixel count of the two above
    (4096, 4096),
    (4729, 3547),  # 16,773,763 pixels at 4:3
]

_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
import lnic.decoder
data = open(sys.argv[1], "rb").read() if len(sys.argv) > 1 else None
t1 = time.perf_counter()
error = None
if data is not None:
    try:
        image = lnic.decoder.decode_bytes(data, max_pixels=None)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
t2 = time.perf_counter()
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({
    "import_s": t1 - t0, "decode_s": t2 - t1, "error": error, "vmhwm_mib": int(hwm) / 1024,
    "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _child(path: Path | None, env: dict | None = None) -> dict:
    args = [sys.executable, "-c", _CHILD] + ([str(path)] if path else [])
    run = subprocess.run(
        args, capture_output=True, text=True, check=True, timeout=1800, env=env, cwd=REPO
    )
    return json.loads(run.stdout.splitlines()[-1])


def aspect_ratios(tmp: Path) -> list[dict]:
    from make_hostile import quiet_bitstream

    rows = [{"shape": "import only", **_child(None)}]
    for width, height in SHAPES:
        path = tmp / f"quiet_{width}x{height}.lnic"
        path.write_bytes(quiet_bitstream(height, width))
        row = {"shape": f"{width}x{height}", "pixels": width * height}
        row.update(bytes=path.stat().st_size, **_child(path))
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def bombs() -> list[dict]:
    rows = []
    for name in ("bomb_4096x4096.lnic", "bomb_8000x5000.lnic", "over_limit_5000x4000.lnic"):
        path = HOSTILE / name
        script = (
            "import sys, time; import lnic.decoder as d; data = open(sys.argv[1], 'rb').read()\n"
            "t = time.perf_counter()\n"
            "try:\n    d.decode_bytes(data); e = None\n"
            "except Exception as exc:\n    e = str(exc)\n"
            "print(time.perf_counter() - t); print(e)"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        rows.append({"file": name, "bytes": path.stat().st_size, "refusal_s": float(out[0])})
        rows[-1]["error"] = out[1]
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _entropy_cpu(data: bytes, loop: str, runs: int) -> float:
    from lnic.decoder import Profiler, decode_bytes

    os.environ["LNIC_DECODE_LOOP"] = loop
    best = float("inf")
    for _ in range(runs):
        profiler = Profiler()
        decode_bytes(data, profiler=profiler, max_pixels=None)
        best = min(best, profiler.timings()["entropy_decoding_cpu"])
    return best


def loop_costs(runs: int) -> dict:
    """Least-squares fit of each loop's entropy-decoding CPU time to steps and latents."""
    from make_hostile import crafted_bitstream

    from lnic.bitstream import arm_kernels
    from lnic.bitstream.container import unpack_file
    from lnic.bitstream.latent_coding.schedule import num_steps
    from lnic.model.latents import grid_shapes

    arm_kernels.load()
    files = {
        "16x4096": crafted_bitstream(4096, 16, seed=1, spread=1.0),
        "4096x16": crafted_bitstream(16, 4096, seed=2, spread=1.0),
        "256x256": crafted_bitstream(256, 256, seed=3, spread=1.0),
        "1024x768": crafted_bitstream(768, 1024, seed=4, spread=1.0),
        "kodim01": KODIM01.read_bytes(),
    }
    rows = []
    for name, data in files.items():
        h = unpack_file(data).header
        shapes = grid_shapes(h.height, h.width, h.arch.levels)
        row = {"file": name, "steps": num_steps(shapes), "latents": sum(a * b for a, b in shapes)}
        for loop in ("numpy", "compiled"):
            row[f"{loop}_s"] = _entropy_cpu(data, loop, runs)
        print(json.dumps(row), flush=True)
        rows.append(row)
    os.environ.pop("LNIC_DECODE_LOOP")
    a = np.array([[r["steps"], r["latents"]] for r in rows], dtype=float)
    fit = {}
    for loop in ("numpy", "compiled"):
        t = np.array([r[f"{loop}_s"] for r in rows])
        (per_step, per_latent), *_ = np.linalg.lstsq(a, t, rcond=None)
        fit[loop] = {"step_us": per_step * 1e6, "latent_us": per_latent * 1e6}
    return {"rows": rows, "fit": fit}


_FRESH = "import lnic; lnic.decode(open({path!r}, 'rb').read())"


def _fresh_seconds(env: dict, path: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _FRESH.format(path=str(path))], env=env, check=True, cwd=REPO
    )
    return time.perf_counter() - t


def cold_start(repeats: int) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="lnic-cache-"))
    base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "LNIC_NO_NUMBA")}
    base["LNIC_CACHE_DIR"] = str(cache)
    out: dict[str, list[float]] = {
        "python -c pass": [],
        "numpy": [],
        "compiled_cold": [],
        "compiled_warm": [],
        "auto": [],
        "refstep": [],
    }
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        out["python -c pass"].append(time.perf_counter() - t)
        out["numpy"].append(_fresh_seconds({**base, "LNIC_DECODE_LOOP": "numpy"}, KODIM01))
        shutil.rmtree(cache, ignore_errors=True)
        compiled = {**base, "LNIC_DECODE_LOOP": "compiled"}
        out["compiled_cold"].append(_fresh_seconds(compiled, KODIM01))
        out["compiled_warm"].append(_fresh_seconds(compiled, KODIM01))
        out["auto"].append(_fresh_seconds(base, KODIM01))
        if REFSTEP.exists():
            run = subprocess.run(
                [sys.executable, str(REFSTEP)], capture_output=True, text=True, check=True
            )
            out["refstep"].append(float(run.stdout.strip().splitlines()[-1]))
        print(json.dumps({k: v[-1] for k, v in out.items() if v}), flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    return {k: sorted(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="in-process runs per loop cost")
    parser.add_argument("--repeats", type=int, default=3, help="cold-start rounds")
    parser.add_argument("--only", choices=["aspect", "bombs", "loops", "cold"], nargs="*")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "decoder_limits.json")
    args = parser.parse_args(argv)
    parts = args.only or ["aspect", "bombs", "loops", "cold"]
    result: dict = {
        "commit": git_commit(),
        "machine": machine_info(),
        "load_average_start": list(os.getloadavg()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if "aspect" in parts:
            result["aspect_ratios"] = aspect_ratios(Path(tmp))
    if "bombs" in parts:
        result["bombs"] = bombs()
    if "loops" in parts:
        result["loop_costs"] = loop_costs(args.runs)
    if "cold" in parts:
        result["cold_start"] = cold_start(args.repeats)
    result["load_average_end"] = list(os.getloadavg())
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result.get("loop_costs", {}).get("fit", {})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
