"""Rate-distortion benchmark: classical codecs (and lnic) over a folder of images.

Every codec runs its real encoder and decoder through its Python package; the rate is the real
file size. Per-image rows go to OUT/<codec>.csv (resumable: finished rows are skipped), then
OUT/<codec>.json (CompressAI-style mean curves), OUT/report.md (BD-rate against published VTM
and the per-image VTM-23.13 / Cool-chic 5.0 anchors), OUT/rd-psnr.png and rd-msssim.png are
written, OUT/rd-psnr-subset.png when a codec covers fewer images than the others (every
curve redrawn over that codec's images only), and OUT/bd-per-image.png (lnic's and Cool-chic
5.0's BD-rate on each image against VTM-23.13) when the folder has lnic rows.

Every row records the commit of the code that made it; run.json records the commands, the
machine, and each codec's versions, sweep, commit and (lnic) preset. A killed run loses at most
the encode it was in: the same command resumes it.

examples:
  lnic bench --dataset ../shared/datasets/kodak -o benchmarks/kodak
  lnic bench --dataset DIR --codecs avif,heic --settings avif=20,40,60 -o out/
  lnic bench --dataset DIR --codecs lnic:fast --settings 1,3,5 --images kodim01,kodim23 -o out/
  lnic bench --report benchmarks/kodak          # regenerate JSON, report and plots
  lnic bench --summary benchmarks/kodak/lnic.csv   # per-image BD-rates vs the anchors
  lnic bench --quick                            # 2 cropped images, 2 codecs, 2 settings
  lnic bench --list-codecs

codecs: jpeg, jpeg444, webp, jpeg2000, avif, avif-s4, jxl, heic, lnic:PRESET (fast/default/slow)
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lnic.bench.anchors import load_per_image_anchors
from lnic.bench.codecs import (
    CODECS,
    DEFAULT_CODECS,
    CodecUnavailable,
    codec_name,
    get_codec,
)
from lnic.bench.data import (
    BenchImage,
    default_anchors_dir,
    default_dataset_dir,
    list_images,
    quick_images,
    select_images,
)
from lnic.bench.options import build_codecs, parse_columns, parse_names, parse_settings
from lnic.bench.report import write_report
from lnic.bench.results import COLUMNS
from lnic.bench.run_info import run_info_for, update_run_info
from lnic.bench.runner import open_results, run_benchmark
from lnic.bench.summary import load_rows, summarize
from lnic.errors import InputError

log = logging.getLogger(__name__)

QUICK_CODECS = ("jpeg", "webp")
QUICK_SETTINGS = {"jpeg": ["25", "75"], "webp": ["25", "75"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the arguments of ``lnic bench``."""
    parser.add_argument("--dataset", metavar="DIR", help="folder of PNG images to code")
    parser.add_argument(
        "--codecs",
        default=None,
        help=f"comma-separated codecs (default: {','.join(DEFAULT_CODECS)}; with --summary: "
        "every codec of the results)",
    )
    parser.add_argument(
        "--settings",
        action="append",
        default=[],
        metavar="[CODEC=]V1,V2,...",
        help="sweep for one codec (CODEC=...) or, without CODEC=, for every listed codec; "
        "repeatable (default: each codec's sweep over about 0.1-2 bpp on Kodak)",
    )
    parser.add_argument("-o", "--output", metavar="DIR", help="output folder (benchmarks/NAME/)")
    parser.add_argument(
        "--images",
        metavar="NAME,...",
        help="only these images of the dataset (file names without extension), in this order",
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="first N images only")
    parser.add_argument(
        "--columns",
        metavar="SET",
        help="layout of new CSVs: full (every metric), short (rate and PSNR-RGB, no MS-SSIM or "
        "PSNR-YUV computed), or a comma-separated list; an existing CSV keeps its own layout "
        f"unless given (default: full = {','.join(COLUMNS)})",
    )
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="only regenerate JSON, report and plots of DIR from its CSVs",
    )
    parser.add_argument(
        "--summary",
        metavar="PATH",
        help="only print each codec's per-image BD-rates against the per-image anchors, with "
        "their mean, and each point's rate at equal PSNR; PATH is a results CSV or a folder",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny run for CI: 2 cropped images, jpeg and webp, 2 settings each",
    )
    parser.add_argument(
        "--anchors",
        metavar="DIR",
        default=None,
        help="folder with kodak.json and the per-image anchor tables (default: "
        "$LNIC_SHARED/anchors, else ../shared/anchors beside the checkout)",
    )
    parser.add_argument("--no-anchors", action="store_true", help="do not load published anchors")
    parser.add_argument(
        "--anchor",
        default="vtm",
        help="BD-rate anchor: a published curve (vtm, hm, av1, ...), vtm23, or a measured codec "
        "(default: vtm)",
    )
    parser.add_argument(
        "--curves",
        nargs="+",
        default=[],
        metavar="JSON",
        help="extra CompressAI result files to include in the report and plot",
    )
    parser.add_argument("--max-bpp", type=float, default=2.0, help="x range of the plots")
    parser.add_argument("--no-report", action="store_true", help="skip the report after the run")
    parser.add_argument("--no-ms-ssim", action="store_true", help="skip MS-SSIM (faster)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--list-codecs", action="store_true", help="list codecs and versions")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")


def _anchors_dir(args: argparse.Namespace) -> Path | None:
    if args.no_anchors:
        return None
    if args.anchors:
        p = Path(args.anchors)
        if not p.is_dir():
            raise InputError(f"anchors folder not found: {p}")
        return p
    found = default_anchors_dir()
    if found is None:
        log.warning("shared anchors not found; the report has no published curves")
    return found


def _list_codecs() -> int:
    for name, cls in CODECS.items():
        codec = cls()
        try:
            codec.check_available()
            status = codec.version()
        except (CodecUnavailable, ImportError) as exc:
            status = f"UNAVAILABLE ({exc})"
        print(f"{name:9s} {status}")
        print(f"{'':9s} {codec.description}")
        print(f"{'':9s} default settings: {','.join(codec.settings)}")
    print("lnic:P    lnic.encode/decode with preset P; settings = quality q1..q8 (default q1..q6)")
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (paths as given)."""
    codecs = None if args.quick else (args.codecs or ",".join(DEFAULT_CODECS))
    options = [
        ("--quick", None, args.quick),
        ("--dataset", args.dataset, args.dataset),
        ("--codecs", codecs, codecs),
        ("--images", args.images, args.images),
        *(("--settings", spec, True) for spec in args.settings),
        ("--limit", str(args.limit), args.limit),
        ("--columns", args.columns, args.columns),
        ("-o", args.output, args.output),
        ("--no-ms-ssim", None, args.no_ms_ssim),
    ]
    parts = ["lnic", "bench"]
    for flag, value, given in options:
        if given:
            parts += [flag] if value is None else [flag, value]
    return " ".join(shlex.quote(p) for p in parts)


def _report(args: argparse.Namespace, out: Path) -> None:
    path = write_report(
        out,
        _anchors_dir(args),
        anchor=args.anchor,
        extra_curves=args.curves,
        max_bpp=args.max_bpp,
    )
    print(f"lnic bench: report written to {path} (plots: {out / 'rd-psnr.png'})")


def _summary(args: argparse.Namespace) -> int:
    anchors_dir = _anchors_dir(args)
    anchors = load_per_image_anchors(anchors_dir) if anchors_dir is not None else {}
    if not anchors:
        raise InputError("--summary needs the per-image anchor tables (see --anchors)")
    codecs = None
    if args.codecs:
        try:
            codecs = [codec_name(get_codec(c)) for c in args.codecs.split(",") if c.strip()]
        except ValueError as exc:
            raise InputError(str(exc)) from None
    try:
        print(summarize(load_rows(args.summary), codecs, anchors))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(str(exc)) from None
    return 0


@dataclass
class _Plan:
    """What a measuring run codes: images (a folder or in-memory crops), codecs, output folder."""

    source: str | list[BenchImage]
    dataset_label: str
    out: Path
    codec_specs: list[str]
    crop: int | None


def _quick_plan(args: argparse.Namespace) -> _Plan:
    dataset = args.dataset or default_dataset_dir()
    images = quick_images(dataset)
    out = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="lnic-bench-"))
    label = str(dataset) if dataset else "synthetic"
    return _Plan(images, label, out, list(QUICK_CODECS), images[0].rgb.shape[0])


def _dataset_plan(args: argparse.Namespace) -> _Plan:
    if not args.dataset:
        raise InputError(
            "--dataset DIR is required (or --quick, --report DIR, --summary PATH, --list-codecs)"
        )
    if not args.output:
        raise InputError("-o/--output DIR is required")
    if not Path(args.dataset).is_dir():
        raise InputError(f"dataset folder not found: {args.dataset}")
    if args.images:
        try:
            select_images(list_images(args.dataset), parse_names(args.images) or [])
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from None
    specs = [c for c in (args.codecs or ",".join(DEFAULT_CODECS)).split(",") if c.strip()]
    return _Plan(args.dataset, args.dataset, Path(args.output), specs, None)


def _measure(args: argparse.Namespace, plan: _Plan) -> int:
    """Run the plan, then write the report unless ``--no-report``; returns the exit code."""
    codecs = build_codecs(plan.codec_specs)
    columns = parse_columns(args.columns)
    if args.quick and not args.settings:
        settings = dict(QUICK_SETTINGS)
    else:
        settings = parse_settings(args.settings, codecs)
    try:
        open_results(plan.out, codecs, columns)  # before run.json records the command
    except ValueError as exc:  # a results CSV whose layout the run cannot append to
        raise InputError(str(exc)) from None
    info = run_info_for(codecs, settings, plan.dataset_label, _command_line(args), plan.crop)
    plan.out.mkdir(parents=True, exist_ok=True)
    update_run_info(plan.out, info)

    summary = run_benchmark(
        plan.source,
        codecs,
        settings,
        plan.out,
        only=parse_names(args.images),
        limit=args.limit,
        columns=columns,
        progress=not args.no_progress,
        with_ms_ssim=not args.no_ms_ssim,
    )
    print(
        f"lnic bench: {summary.done} rows written, {summary.skipped} already done, "
        f"{len(summary.failed)} failed, {summary.seconds:.1f} s -> {plan.out}"
    )
    for msg in summary.failed[:20]:
        print(f"lnic bench: failed: {msg}", file=sys.stderr)
    if not args.no_report:
        _report(args, plan.out)
    return 1 if summary.failed else 0


def run(args: argparse.Namespace) -> int:
    """Run ``lnic bench``; returns the exit code."""
    if args.list_codecs:
        return _list_codecs()
    if args.report:
        out = Path(args.report)
        if not out.is_dir():
            raise InputError(f"benchmark folder not found: {out}")
        _report(args, out)
        return 0
    if args.summary:
        return _summary(args)
    return _measure(args, _quick_plan(args) if args.quick else _dataset_plan(args))
