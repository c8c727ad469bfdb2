"""The benchmark loop: every codec over every image at every setting, resumable, with progress.

Images are loaded one at a time; for each image every pending (codec, setting) is encoded,
decoded and measured, and the row is appended to ``OUT/<codec>.csv`` at once. Rows already in the
CSVs are skipped, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from lnic.bench.codecs import Codec, codec_name
from lnic.bench.data import BenchImage, image_key, list_images, load_image
from lnic.bench.metrics import ms_ssim, psnr_rgb, psnr_yuv
from lnic.bench.results import Result, ResultsFile, atomic_write_text

__all__ = ["RunSummary", "measure", "run_benchmark", "update_run_info"]

log = logging.getLogger(__name__)

RUN_INFO = "run.json"


@dataclass
class RunSummary:
    """What a run did."""

    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def measure(codec: Codec, image: BenchImage, setting: str, with_ms_ssim: bool = True) -> Result:
    """Encode and decode one image at one setting and measure rate and distortion."""
    rgb = image.rgb
    t0 = time.perf_counter()
    data = codec.encode(rgb, setting)
    t1 = time.perf_counter()
    out = codec.decode(data)
    t2 = time.perf_counter()
    out = np.asarray(out)
    if out.shape != rgb.shape or out.dtype != np.uint8:
        raise ValueError(f"decoded image is {out.shape} {out.dtype}, expected {rgb.shape} uint8")
    h, w = rgb.shape[:2]
    return Result(
        image=image.name,
        codec=codec_name(codec),
        setting=setting,
        width=w,
        height=h,
        bytes=len(data),
        bpp=8.0 * len(data) / (w * h),
        psnr_rgb=psnr_rgb(rgb, out),
        psnr_yuv=psnr_yuv(rgb, out),
        ms_ssim=ms_ssim(rgb, out) if with_ms_ssim else float("nan"),
        encode_s=t1 - t0,
        decode_s=t2 - t1,
    )


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
    """A short description of the machine the run is on."""
    return {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }


def update_run_info(out_dir: Path, updates: dict[str, object]) -> dict[str, object]:
    """Merge ``updates`` into ``OUT/run.json`` (the ``codecs`` entry is merged per codec)."""
    path = out_dir / RUN_INFO
    info: dict[str, object] = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("%s unreadable, starting a new one", path)
    codecs = dict(info.get("codecs", {}) or {})
    codecs.update(updates.get("codecs", {}) or {})  # type: ignore[arg-type]
    commands = list(info.get("commands", []) or [])
    if updates.get("command") and updates["command"] not in commands:
        commands.append(updates["command"])
    info.update({k: v for k, v in updates.items() if k not in ("codecs", "command")})
    info["codecs"] = codecs
    info["commands"] = commands
    atomic_write_text(path, json.dumps(info, indent=2) + "\n")
    return info


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc="lnic bench",
        unit="img",
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.05,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}",
    )


def run_benchmark(
    images: Sequence[BenchImage] | str | os.PathLike[str],
    codecs: Sequence[Codec],
    settings: dict[str, list[str]],
    out_dir: str | os.PathLike[str],
    *,
    limit: int | None = None,
    progress: bool = True,
    with_ms_ssim: bool = True,
    on_result: Callable[[Result], None] | None = None,
) -> RunSummary:
    """Run every codec over every image at its settings; rows go to ``OUT/<codec>.csv``.

    ``images`` is a folder (images are loaded lazily, the first ``limit`` if given) or a list of
    in-memory images. ``settings`` maps each codec name to its sweep. Finished rows are skipped.
    A failing encode/decode is logged and counted, and the run goes on.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(images, str | os.PathLike):
        files = list_images(images)
        if limit:
            files = files[:limit]
        names = [image_key(f.name) for f in files]
        loaders: list[Callable[[], BenchImage]] = [lambda f=f: load_image(f) for f in files]
    else:
        imgs = list(images)[:limit] if limit else list(images)
        names = [im.name for im in imgs]
        loaders = [lambda im=im: im for im in imgs]

    files_by_codec = {codec_name(c): ResultsFile(out / f"{codec_name(c)}.csv") for c in codecs}
    done = {name: rf.done_keys() for name, rf in files_by_codec.items()}
    plan: list[list[tuple[Codec, str]]] = []
    summary = RunSummary()
    for name in names:
        todo = []
        for codec in codecs:
            cname = codec_name(codec)
            for s in settings[cname]:
                if (name, cname, s) in done[cname]:
                    summary.skipped += 1
                else:
                    todo.append((codec, s))
        plan.append(todo)
    total = sum(len(t) for t in plan)
    log.info("%d encodes to do, %d already done", total, summary.skipped)

    start = time.perf_counter()
    with _progress(total, progress) as bar:
        for load, todo in zip(loaders, plan, strict=True):
            if not todo:
                continue
            image = load()
            for codec, setting in todo:
                cname = codec_name(codec)
                bar.set_postfix_str(f"{image.name} {cname} {setting}", refresh=False)
                try:
                    result = measure(codec, image, setting, with_ms_ssim=with_ms_ssim)
                except Exception as exc:  # noqa: BLE001 - one bad encode must not stop the run
                    msg = f"{image.name} {cname} {setting}: {type(exc).__name__}: {exc}"
                    log.error("failed: %s", msg)
                    summary.failed.append(msg)
                else:
                    files_by_codec[cname].append(result)
                    summary.done += 1
                    if on_result is not None:
                        on_result(result)
                bar.update(1)
    summary.seconds = time.perf_counter() - start
    return summary


def _codec_entry(codec: Codec, settings: list[str]) -> dict[str, object]:
    try:
        version = codec.version()
    except ImportError as exc:  # lnic's API can be missing while the harness runs
        version = f"unavailable ({exc})"
    return {"description": codec.description, "version": version, "settings": settings}


def run_info_for(
    codecs: Sequence[Codec],
    settings: dict[str, list[str]],
    dataset: str,
    command: str,
    crop: int | None = None,
) -> dict[str, object]:
    """The ``run.json`` entries of a run: command, machine, and each codec's version."""
    return {
        "command": command,
        "dataset": dataset,
        "crop": crop,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "codecs": {codec_name(c): _codec_entry(c, settings[codec_name(c)]) for c in codecs},
    }
