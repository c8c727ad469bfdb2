"""Large images (issue 24): encode seconds per training step, encode and decode peak memory,
decode time, at 768x512, 1920x1080, 3840x2160 and 4032x3024.

Images: ``../shared/datasets/wiki-dev/dev02.png`` (768x512), centre-cropped to each size's aspect
ratio and upscaled with Pillow's Lanczos filter (768x432 -> 1920x1080 and 3840x2160, 683x512 ->
4032x3024); 768x512 is dev02 itself. An upscaled photo is smoother than a camera's 12 MP: its
latents are sparser, which matters to the entropy decoder's time, not to a training step's.

Every measurement runs in a fresh process that reports its own peak resident memory
(``VmHWM``, which starts afresh at exec):

* ``train``: ``encode_array`` with the default preset cut to ``--steps`` steps, stopped after the
  last training step (the progress callback raises): seconds per step (median of the steps after
  the first two) and the peak so far, the training's.
* ``encode``: one whole ``--steps``-step encode with the fast preset at quality 4 (training,
  quantization search, coding, self-check), whose file the decode rows read: its peak and its
  fixed cost (time beyond its steps).
* ``decode``: ``decode_bytes`` of that file twice (the second is the time reported; the first
  pays first-use costs), then once with the compiled latent loop (``LNIC_DECODE_LOOP=compiled``,
  for the loop choice; the second such decode is reported, the first loads the kernels).

``../shared/bench/refstep.py`` runs three times before and three times after; times are also
given as multiples of its median. Repeats (``--repeats``) of the train and decode processes
alternate over the sizes; the report gives medians.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/large_images.py --steps 8 --encode-steps 2
    OMP_NUM_THREADS=2 nice -n 5 python benchmarks/large_images.py --train-only \\
        --sizes 4032x3024 -o benchmarks/large_images_2threads

The first writes ``large_images.json`` (raw runs and summary) and ``large_images.table.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = ((768, 512), (1920, 1080), (3840, 2160), (4032, 3024))
SOURCE = "dev02.png"
GIB = 1 << 30

log = logging.getLogger("large_images")

_CHILD = r"""
import json, os, sys, time
import numpy as np

def peak():
    status = open("/proc/self/status").read().split("\n")
    return 1024 * next(int(x.split()[1]) for x in status if x.startswith("VmHWM:"))

mode, path, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if mode == "decode":
    from lnic.decoder import Profiler, decode_bytes
    data = open(path, "rb").read()
    rows = []
    for loop in ("auto", "auto", "compiled", "compiled"):
        os.environ["LNIC_DECODE_LOOP"] = loop
        if loop == "compiled" and len(rows) == 2:
            rows[-1]["peak_bytes"] = peak()
        prof = Profiler()
        t = time.perf_counter()
        decode_bytes(data, prof, max_pixels=None)
        row = {"loop": loop, "seconds": time.perf_counter() - t}
        row.update({k: v for k, v in prof.timings().items() if not k.endswith("_cpu")})
        rows.append(row)
    print(json.dumps({"first": rows[0], "warm": rows[1], "compiled": rows[3]}))
    sys.exit(0)

from PIL import Image
from lnic.encoder.encode import encode_array
image = np.asarray(Image.open(path).convert("RGB"))
stamps = []

class Stop(Exception):
    pass

def progress(done, total, stats):
    stamps.append(time.perf_counter())
    if mode == "train" and done == total:
        raise Stop

t0 = time.perf_counter()
result = None
try:
    preset = "default" if mode == "train" else "fast"
    result = encode_array(image, quality=4, preset=preset, steps=steps, progress=progress)
except Stop:
    pass
total = time.perf_counter() - t0
gaps = np.diff([t0] + stamps)
row = {"steps": len(stamps), "step_seconds": float(np.median(gaps[2:])),
       "first_steps": [round(float(g), 3) for g in gaps[:2]], "seconds": total,
       "peak_bytes": peak()}
if result is not None:
    open(out, "wb").write(result.bitstream)
    row.update(bytes=len(result.bitstream), bpp=result.bpp, psnr=result.psnr_rgb)
print(json.dumps(row))
"""


def shared_dir() -> Path:
    """``$LNIC_SHARED`` or ``../shared``."""
    return Path(os.environ.get("LNIC_SHARED", ROOT.parent / "shared"))


def make_images(folder: Path) -> dict[tuple[int, int], Path]:
    """The test images: dev02 centre-cropped to each aspect ratio, upscaled with Lanczos."""
    from PIL import Image

    src = Image.open(shared_dir() / "datasets" / "wiki-dev" / SOURCE).convert("RGB")
    w0, h0 = src.size
    out = {}
    for w, h in SIZES:
        cw, ch = (round(h0 * w / h), h0) if w0 / h0 > w / h else (w0, round(w0 * h / w))
        x0, y0 = (w0 - cw) // 2, (h0 - ch) // 2
        im = src.crop((x0, y0, x0 + cw, y0 + ch))
        if im.size != (w, h):
            im = im.resize((w, h), Image.LANCZOS)
        out[w, h] = folder / f"{w}x{h}.png"
        im.save(out[w, h])
    return out


def child(mode: str, path: Path, out: Path, steps: int) -> dict:
    """One measurement in a fresh process (this checkout's lnic)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path), str(out), str(steps)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if run.returncode:
        raise RuntimeError(f"{mode} {path.name} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace, folder: Path, partial: Path) -> dict:
    """Every row of the report (raw runs included), saved to ``partial`` as it grows: first one
    training run per size, then the whole encodes (which make the files), then the decodes,
    then the further repeats."""
    from lnic.bench.refstep import reference_steps

    images = make_images(folder)
    sizes = [s for s in SIZES if f"{s[0]}x{s[1]}" in args.sizes.split(",")]
    raw: dict = {"refstep_before": reference_steps(3), "refstep_after": [], "rows": {}}
    log.info("reference step: %s", raw["refstep_before"])
    rows = raw["rows"]
    for w, h in sizes:
        rows[f"{w}x{h}"] = {"width": w, "height": h, "pixels": w * h, "train": [], "decode": []}

    def save() -> None:
        partial.write_text(json.dumps(raw, indent=1) + "\n")

    def train(w: int, h: int) -> None:
        rows[f"{w}x{h}"]["train"].append(child("train", images[w, h], folder / "x", args.steps))
        log.info("%dx%d train: %s", w, h, rows[f"{w}x{h}"]["train"][-1])
        save()

    def decode(w: int, h: int) -> None:
        key = f"{w}x{h}"
        rows[key]["decode"].append(child("decode", folder / f"{key}.lnic", folder / "x", 0))
        log.info("%s decode: %s", key, rows[key]["decode"][-1])
        save()

    for w, h in sizes:
        train(w, h)
    if args.train_only:
        for _ in range(args.repeats - 1):
            for w, h in sizes:
                train(w, h)
        sizes = []
    for w, h in sizes:
        key = f"{w}x{h}"
        rows[key]["encode"] = child(
            "encode", images[w, h], folder / f"{key}.lnic", args.encode_steps
        )
        log.info("%s encode: %s", key, rows[key]["encode"])
        save()
    for w, h in sizes:
        decode(w, h)
    for _ in range(args.repeats - 1):
        for w, h in sizes:
            decode(w, h)
            train(w, h)
    raw["refstep_after"] = reference_steps(3)
    log.info("reference step after: %s", raw["refstep_after"])
    save()
    return raw


def summarize(raw: dict) -> list[dict]:
    """One line per size: medians over the repeats (None where a run is missing)."""
    ref = statistics.median(raw["refstep_before"] + raw["refstep_after"])
    out = []

    def med(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    for key, r in raw["rows"].items():
        step = med([t["step_seconds"] for t in r["train"]])
        dec = [d["warm"] for d in r["decode"]]
        enc = r.get("encode", {})
        s = {"size": key, "pixels": r["pixels"], "step_s": step, "repeats": len(r["train"])}
        s["step_ref"] = step / ref if step else None
        s["train_peak_bytes"] = med([t["peak_bytes"] for t in r["train"]])
        s["encode_peak_bytes"] = enc.get("peak_bytes")
        s["encode_bpp"] = enc.get("bpp")
        s["encode_s"] = enc.get("seconds")
        # the time beyond the training steps: quantization search, coding, self-check
        s["encode_fixed_s"] = enc["seconds"] - sum(enc["first_steps"]) if enc else None
        s["decode_repeats"] = len(dec)
        s["decode_s"] = med([d["seconds"] for d in dec])
        s["decode_ref"] = s["decode_s"] / ref if dec else None
        s["decode_first_s"] = med([d["first"]["seconds"] for d in r["decode"]])
        s["decode_compiled_s"] = med([d["compiled"]["seconds"] for d in r["decode"]])
        s["entropy_compiled_s"] = med([d["compiled"]["entropy_decoding"] for d in r["decode"]])
        for stage in ("entropy_decoding", "upsampling", "synthesis"):
            s[f"{stage}_s"] = med([d[stage] for d in dec])
        s["decode_peak_bytes"] = med([d["peak_bytes"] for d in dec])
        out.append(s)
    return out


def _f(value: float | None, fmt: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value / scale, fmt)


def report(summary: list[dict]) -> str:
    """The markdown table of the summary."""
    lines = [
        "| size | pixels | s / step (x ref) | train peak GiB (B/px) | encode peak GiB (B/px) | "
        "encode: s beyond its steps | bpp | decode s (x ref) | entropy / upsampling / "
        "synthesis s | compiled loop: decode / entropy s | decode peak MiB (B/px) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        px = s["pixels"]
        lines.append(
            f"| {s['size']} | {px / 1e6:.2f} M "
            f"| {_f(s['step_s'], '.3f')} ({_f(s['step_ref'], '.2f')}) "
            f"| {_f(s['train_peak_bytes'], '.2f', GIB)} ({_f(s['train_peak_bytes'], '.0f', px)}) "
            f"| {_f(s['encode_peak_bytes'], '.2f', GIB)} ({_f(s['encode_peak_bytes'], '.0f', px)}) "
            f"| {_f(s['encode_fixed_s'], '.1f')} | {_f(s['encode_bpp'], '.3f')} "
            f"| {_f(s['decode_s'], '.2f')} ({_f(s['decode_ref'], '.2f')}) "
            f"| {_f(s['entropy_decoding_s'], '.2f')} / {_f(s['upsampling_s'], '.2f')} / "
            f"{_f(s['synthesis_s'], '.2f')} "
            f"| {_f(s['decode_compiled_s'], '.2f')} / {_f(s['entropy_compiled_s'], '.2f')} "
            f"| {_f(s['decode_peak_bytes'], '.0f', 2**20)} "
            f"({_f(s['decode_peak_bytes'], '.0f', px)}) |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="training steps per train run")
    parser.add_argument("--encode-steps", type=int, default=6, help="steps of the whole encode")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--train-only", action="store_true", help="only the training runs (e.g. on 2 threads)"
    )
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES))
    parser.add_argument("-o", "--output", type=Path, default=HERE / "large_images")
    parser.add_argument(
        "--summarize", type=Path, help="only print the table of a (partial) raw JSON file"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.summarize:
        raw = json.loads(args.summarize.read_text())
        raw = raw.get("raw", raw)
        if not raw["refstep_after"]:
            raw["refstep_after"] = []
        print(report(summarize(raw)))
        return 0
    sys.path.insert(0, str(ROOT))  # this checkout's lnic, as in the measuring processes
    from lnic.bench.provenance import git_commit, machine_info

    settings = {**vars(args), "output": str(args.output)}
    info = {"commit": git_commit(), "machine_start": machine_info(), "args": settings}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        raw = measure(args, Path(tmp), args.output.with_suffix(".partial.json"))
    result = {**info, "machine_end": machine_info(), "wall_s": time.time() - t0, "raw": raw}
    result["summary"] = summarize(raw)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    table = report(result["summary"])
    args.output.with_suffix(".table.md").write_text(table + "\n")
    log.info("\n%s", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
