"""Encoder speed: seconds per training step, and per preset the encode time and RD point reached.

    OMP_NUM_THREADS=2 python benchmarks/encode_speed.py --steps-only        # step timings
    OMP_NUM_THREADS=2 python benchmarks/encode_speed.py --presets default --quality 4

Each run also times ``--refsteps`` reference steps (``shared/bench/refstep.py``) before its
measurements and as many after, and gives every encode time as a multiple of their median
(issue 21's limit: the default preset on kodim01 at quality 4, two threads, <= 300).

Results are appended to ``benchmarks/encode_speed.json`` (one record per run, with the commit,
the machine, the thread count and each preset's phases); the rate gap is measured against
Cool-chic 5.0's per-image curve at equal PSNR (log-rate interpolated over PSNR, piecewise
cubic). The Kodak images and the anchors are looked up in ``$LNIC_SHARED`` or ``../shared``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lnic.bench.provenance import git_commit

if TYPE_CHECKING:
    from lnic.encoder.presets import Preset

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "encode_speed.json"
PLOT = OUT.with_suffix(".png")


def _shared(folder: Path | None, what: str) -> Path:
    if folder is None:
        raise SystemExit(f"{what} not found: put shared/ beside the checkout or set LNIC_SHARED")
    return folder


def _image(name: str) -> np.ndarray:
    from PIL import Image

    from lnic.bench.data import default_dataset_dir

    kodak = _shared(default_dataset_dir(), "the Kodak images")
    return np.asarray(Image.open(kodak / f"{name}.png").convert("RGB"))


def _setup(image: np.ndarray):
    import torch

    from lnic.encoder.allocator import keep_large_allocations
    from lnic.encoder.nets.codec import OverfittedCodec
    from lnic.model.architecture import Architecture
    from lnic.model.latents import num_levels

    keep_large_allocations()  # as lnic.encoder.train.fit does: time the step the encoder runs
    h, w = image.shape[:2]
    target = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / 255.0)
    torch.manual_seed(0)
    model = OverfittedCodec(Architecture(levels=num_levels(h, w)), h, w)
    return model, target


def _loss_args():
    """lambda (quality 4) and the quantization proxy of the default preset's first step."""
    import torch

    from lnic.encoder.presets import PRESETS, QUALITY_LAMBDAS

    return torch.tensor(QUALITY_LAMBDAS[4]), PRESETS["default"].phases[0].at(0).proxy


def step_timings(image: np.ndarray, steps: int = 6) -> dict[str, float]:
    """Median seconds of one training step (forward + backward + Adam).

    Eager, on the process's threads (the encoder does not compile, lnic/encoder/train.py).
    """
    import torch

    from lnic.encoder.train import _loss

    out = {"threads": torch.get_num_threads()}
    model, target = _setup(image)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    t = time.perf_counter()
    _loss(model, target, *_loss_args())[0].backward()  # warm-up
    out["eager_first_step_s"] = time.perf_counter() - t
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        loss = _loss(model, target, *_loss_args())[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    out["eager_step_s"] = float(np.median(times))
    return out


def profile_step(image: np.ndarray, repeats: int = 5) -> dict[str, float]:
    """Where an eager training step spends its time: median milliseconds per part.

    Each part's forward is timed alone; ``backward`` is the whole step's backward pass and
    ``adam`` the optimiser update. The parts run the encoder's own code (:func:`proxy`,
    :meth:`Arm.bits` with its context gathering, upsampling, synthesis), native where the
    encoder's is.
    """
    import torch

    from lnic.encoder.train import proxy

    lmbda, settings = _loss_args()
    model, target = _setup(image)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    parts: dict[str, list[float]] = {}

    def tick(name: str, t0: float) -> float:
        t1 = time.perf_counter()
        parts.setdefault(name, []).append(1000 * (t1 - t0))
        return t1

    for _ in range(repeats + 1):
        t = time.perf_counter()
        temp, noise_std = torch.tensor(settings.temperature), torch.tensor(settings.noise_std)
        grids = [proxy(g, temp, noise_std) for g in model.latents.grids]
        t = tick("quantization proxy", t)
        bits = model.arm.bits(grids)
        t = tick("context + ARM MLP + rate", t)
        up = model.upsampler(grids)
        t = tick("upsampling", t)
        rec = model.synthesis(up)
        t = tick("synthesis", t)
        loss = torch.mean((rec - target) ** 2) + lmbda * bits / target[0].numel()
        t = tick("distortion + loss", t)
        opt.zero_grad()
        loss.backward()
        t = tick("backward", t)
        opt.step()
        tick("adam", t)
    return {k: float(np.median(v[1:])) for k, v in parts.items()}


def rate_gap_vs_coolchic(image: str, bpp: float, psnr: float) -> float | None:
    """Percent more (or fewer) bits than Cool-chic 5.0's curve for that image at equal PSNR."""
    from lnic.bench import BDError, rate_gap
    from lnic.bench.curves import load_per_image_table
    from lnic.bench.data import default_anchors_dir

    anchors = _shared(default_anchors_dir(), "the anchors")
    table = load_per_image_table(anchors / "kodak-coolchic5-per-image.tsv")
    try:
        return rate_gap(*table[image], bpp, psnr)
    except BDError:
        return None


def plot(history: list[dict], path: Path = PLOT) -> None:
    """Left: rate gap to Cool-chic 5.0 against encode time, one marker shape per preset, older
    runs paler (the latest run of each preset labelled); right: seconds per step, run by run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_g, ax_s) = plt.subplots(1, 2, figsize=(11, 4.4), width_ratios=[3, 2])
    markers = {"fast": "o", "default": "s", "slow": "^"}
    # the left panel follows one reference point (the encode-speed issue's); records of other
    # images or qualities stay in the JSON and the markdown
    runs = [r for r in history if r.get("presets") and r.get("image", "kodim01") == "kodim01"]
    cmap = plt.get_cmap("viridis")
    latest: dict[str, tuple] = {}
    for i, rec in enumerate(runs):
        colour = cmap(0.15 + 0.75 * i / max(len(runs) - 1, 1))
        for name, p in rec["presets"].items():
            gap = p.get("rate_gap_vs_coolchic5_pct")
            if gap is None or p.get("quality", 4) != 4:
                continue
            marker = markers.get(name.split("@")[0], "x")  # "default@4200": a what-if run
            ax_g.scatter(
                p["encode_seconds"],
                gap,
                marker=marker,
                color=colour,
                edgecolor="black",
                linewidth=0.4,
                s=40,
                zorder=3,
            )
            latest[name] = (p["encode_seconds"], gap, p.get("steps"), rec["date"])
    # Labels in a column at the lower left (empty: fast and below +10%), each with an arrow to
    # its point, so that the default's cluster of runs stays readable. What-if runs
    # ("default@4200") are labelled only while they are the latest record's.
    newest = set(runs[-1]["presets"]) if runs else set()
    labelled = [(n, v) for n, v in latest.items() if "@" not in n or n in newest]
    for i, (name, (t, gap, steps, date)) in enumerate(sorted(labelled, key=lambda x: x[1][3])):
        text = f"{name}: {gap:+.1f}% in {t:.0f} s" + (f", {steps} steps, {date}" if steps else "")
        ax_g.annotate(
            text,
            (t, gap),
            xytext=(0.02, 0.04 + 0.08 * i),
            textcoords="axes fraction",
            fontsize=7.5,
            arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.6},
        )
    for name, m in markers.items():
        ax_g.scatter([], [], marker=m, color="grey", label=name)
    ax_g.axhline(10, color="grey", ls="--", lw=0.8, label="+10% target")
    for t in (60, 300):
        ax_g.axvline(t, color="grey", ls=":", lw=0.8)
    ax_g.set_xscale("log")
    ax_g.set_yscale("symlog", linthresh=10)  # the fast preset's far points next to the +10% line
    ax_g.set_ylim(bottom=0)
    ax_g.set_xlabel("encode time [s], kodim01 q4 (dotted: 60 s and 5 min targets)")
    ax_g.set_ylabel("rate vs Cool-chic 5.0 at equal PSNR [%]")
    ax_g.set_title("rate gap against encode time (paler: older runs)")
    ax_g.grid(alpha=0.3)
    ax_g.legend(fontsize=8, loc="upper right")
    timed = [r for r in history if r.get("steps", {}).get("eager_step_s")]
    ax_s.plot(range(len(timed)), [r["steps"]["eager_step_s"] for r in timed], "o-")
    ax_s.set_xticks(range(len(timed)), [r["date"][5:] for r in timed], rotation=60, fontsize=7)
    ax_s.set_ylim(bottom=0)
    ax_s.set_ylabel("seconds per 768x512 training step")
    ax_s.set_title("training step, run by run (2 threads)")
    ax_s.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _presets(names: list[str], noise_steps: dict[str, int]) -> list[tuple[str, Preset]]:
    """The presets called ``names``, each labelled; a preset in ``noise_steps`` runs that many
    noise-proxy steps instead of its own and is labelled ``NAME@STEPS`` (a what-if run)."""
    from lnic.encoder.presets import NoisePhase, get_preset

    out = []
    for name in names:
        preset = get_preset(name)
        if name in noise_steps:
            phases = tuple(
                replace(p, steps=noise_steps[name]) if isinstance(p, NoisePhase) else p
                for p in preset.phases
            )
            preset = replace(preset, phases=phases)
            name = f"{name}@{preset.steps}"
        out.append((name, preset))
    return out


def _encode(image: np.ndarray, preset: Preset, quality: int, image_name: str) -> dict:
    """Encode ``image`` with ``preset``: the record's entry for that preset."""
    from lnic.encoder.encode import encode_array

    r = encode_array(image, quality=quality, preset=preset)
    return {
        "steps": preset.scaled(image.shape[0] * image.shape[1]).steps,
        "preset": preset.record(),
        "quality": quality,
        "bpp": r.bpp,
        "psnr_rgb": r.psnr_rgb,
        "encode_seconds": r.encode_seconds,
        "rate_gap_vs_coolchic5_pct": rate_gap_vs_coolchic(image_name, r.bpp, r.psnr_rgb),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--image", default="kodim01")
    ap.add_argument("--presets", default="fast,default")
    ap.add_argument("--quality", type=int, default=4)
    ap.add_argument("--steps-only", action="store_true")
    ap.add_argument(
        "--noise-steps",
        action="append",
        default=[],
        metavar="PRESET=N",
        help="run PRESET with N noise-proxy steps instead of its own (a what-if "
        "for choosing budgets; recorded as PRESET@STEPS)",
    )
    ap.add_argument(
        "--refsteps",
        type=int,
        default=3,
        metavar="N",
        help="reference steps run before the measurements and N after (0: none)",
    )
    ap.add_argument("--plot", action="store_true", help="only redraw the plot from the JSON")
    args = ap.parse_args()
    if args.plot:
        plot(json.loads(OUT.read_text()))
        return 0

    import torch

    from lnic.bench.refstep import in_reference_steps, reference_steps
    from lnic.bench.runner import machine_info
    from lnic.encoder.native import library

    image = _image(args.image)
    before = reference_steps(args.refsteps)
    record: dict = {
        "image": args.image,
        "commit": git_commit(),
        "threads": torch.get_num_threads(),
        "native_kernels": library() is not None,
        "machine": machine_info(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "steps": step_timings(image),
        "profile_ms": profile_step(image),
    }
    if not args.steps_only:
        noise_steps = {k: int(v) for k, v in (o.split("=", 1) for o in args.noise_steps)}
        record["presets"] = {
            label: _encode(image, preset, args.quality, args.image)
            for label, preset in _presets(args.presets.split(","), noise_steps)
        }
    after = reference_steps(args.refsteps)
    if before:
        record["reference_step_s"] = {"before": before, "after": after}
        for label, entry in record.get("presets", {}).items():
            entry["encode_reference_steps"] = in_reference_steps(
                entry["encode_seconds"], before, after
            )
            print(
                f"{label}: {entry['encode_seconds']:.1f} s = "
                f"{entry['encode_reference_steps']:.0f} reference steps"
            )
    history = json.loads(OUT.read_text()) if OUT.exists() else []
    history.append(record)
    OUT.write_text(json.dumps(history, indent=1) + "\n")
    plot(history)
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
