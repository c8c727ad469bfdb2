"""The benchmark loop: every codec over every image at every setting, resumable, with progress.

Images are loaded one at a time; for each image every pending (codec, setting) is encoded,
decoded and measured, and the row is appended to ``OUT/<codec>.csv`` at once. Rows already in the
CSVs are skipped, so an interrupted run continues where it stopped: a killed run loses at most
the encode it was in.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lnic.bench.codecs import Codec, codec_name
from lnic.bench.data import BenchImage, image_key, list_images, load_image, select_images
from lnic.bench.metrics import ms_ssim, psnr_rgb, psnr_yuv
from lnic.bench.provenance import git_commit, machine_info
from lnic.bench.results import Result, ResultsFile

__all__ = ["RunSummary", "machine_info", "measure", "open_results", "run_benchmark"]

log = logging.getLogger(__name__)


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


def _image_loaders(
    images: Sequence[BenchImage] | str | os.PathLike[str],
    only: Sequence[str] | None,
    limit: int | None,
) -> tuple[list[str], list[Callable[[], BenchImage]]]:
    """Names of the images to code and a loader for each (folders are read lazily)."""
    if isinstance(images, str | os.PathLike):
        files = list_images(images)
        if only:
            files = select_images(files, only)
        files = files[:limit] if limit else files
        return [image_key(f.name) for f in files], [lambda f=f: load_image(f) for f in files]
    imgs = [im for n in only for im in images if im.name == n] if only else list(images)
    imgs = imgs[:limit] if limit else imgs
    return [im.name for im in imgs], [lambda im=im: im for im in imgs]


def open_results(
    out: Path, codecs: Sequence[Codec], columns: tuple[str, ...] | None
) -> dict[str, ResultsFile]:
    """Each codec's ``OUT/<codec>.csv``; ``ValueError`` when one cannot take the rows."""
    files = {codec_name(c): ResultsFile(out / f"{codec_name(c)}.csv", columns) for c in codecs}
    for rf in files.values():
        rf.columns()
    return files


def _done_keys(rf: ResultsFile, commit: str) -> set[tuple[str, str, str]]:
    """Keys of the rows already in a file; says so when some come from other code."""
    rows = rf.load()
    others = sorted({r.commit or "unknown" for r in rows} - {commit})
    if others:
        log.warning(
            "%s: rows made at other commits (%s) are kept, not redone; this run is at %s",
            rf.path,
            ", ".join(others),
            commit,
        )
    return {r.key for r in rows}


def _log_row(r: Result) -> None:
    log.info(
        "%s %s %s: %d bytes, %.4f bpp, %.3f dB, encode %.1f s, decode %.2f s",
        r.image,
        r.codec,
        r.setting,
        r.bytes,
        r.bpp,
        r.psnr_rgb,
        r.encode_s,
        r.decode_s,
    )


def run_benchmark(
    images: Sequence[BenchImage] | str | os.PathLike[str],
    codecs: Sequence[Codec],
    settings: dict[str, list[str]],
    out_dir: str | os.PathLike[str],
    *,
    only: Sequence[str] | None = None,
    limit: int | None = None,
    columns: tuple[str, ...] | None = None,
    progress: bool = True,
    with_ms_ssim: bool = True,
) -> RunSummary:
    """Run every codec over every image at its settings; rows go to ``OUT/<codec>.csv``.

    ``images`` is a folder (images are loaded lazily) or a list of in-memory images; ``only``
    keeps the images of those names, in that order, and ``limit`` the first ``limit``.
    ``settings`` maps each codec name to its sweep; ``columns`` is the layout of new CSVs
    (:class:`ResultsFile`). Finished rows are skipped, and a file's layout is checked before the
    first encode. A failing encode/decode is logged and counted, and the run goes on.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names, loaders = _image_loaders(images, only, limit)
    commit = git_commit()
    files = open_results(out, codecs, columns)
    layout = {name: rf.columns() for name, rf in files.items()}
    done = set().union(*(_done_keys(rf, commit) for rf in files.values()))
    sweep = [(c, s) for c in codecs for s in settings[codec_name(c)]]
    plan = [[(c, s) for c, s in sweep if (name, codec_name(c), s) not in done] for name in names]
    total = sum(len(t) for t in plan)
    summary = RunSummary(skipped=len(names) * len(sweep) - total)
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
                ssim = with_ms_ssim and "ms_ssim" in layout[cname]
                try:
                    result = measure(codec, image, setting, with_ms_ssim=ssim)
                except Exception as exc:  # noqa: BLE001 - one bad encode must not stop the run
                    msg = f"{image.name} {cname} {setting}: {type(exc).__name__}: {exc}"
                    log.error("failed: %s", msg)
                    summary.failed.append(msg)
                else:
                    result.commit = commit
                    files[cname].append(result)
                    _log_row(result)
                    summary.done += 1
                bar.update(1)
    summary.seconds = time.perf_counter() - start
    return summary
