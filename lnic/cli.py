"""The ``lnic`` command line: encode, decode, info and bench.

Every error a user can cause ends as one line on stderr and a non-zero exit code (see
:data:`EXIT_CODES`); outputs are written without damaging anything (:mod:`lnic.outputs`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from lnic import __version__
from lnic.errors import LnicError
from lnic.threads import THREAD_VARIABLES, set_threads  # noqa: F401 (re-exported)

EXIT_CODES = {
    0: "success",
    1: "error (bad input file, unwritable output, a failed encode or decode)",
    2: "usage error (unknown option, missing argument)",
    130: "interrupted (Ctrl-C)",
}

_MAIN_EPILOG = """\
examples:
  lnic encode photo.jpg -o photo.lnic                  # quality 4, default preset
  lnic encode photo.png -o photo.lnic --size 20000     # aim at a 20,000-byte file
  lnic decode photo.lnic -o photo.png                  # PNG (or .ppm .pgm .pam .tif .bmp)
  lnic decode photo.lnic -o - | display                # PNG on standard output
  lnic info photo.lnic                                 # size, architecture, where the bytes go

'-' is standard input as an input and standard output as an output.
Run 'lnic COMMAND --help' for a command's options and examples; docs/cli.md has them all.

exit codes:
{codes}
"""

_DECODE_EPILOG = """\
examples:
  lnic decode photo.lnic -o photo.png
  lnic decode photo.lnic -o photo.tiff                 # the format follows the extension
  lnic decode photo.lnic -o - > photo.png              # PNG on standard output
  cat photo.lnic | lnic decode - -o photo.png          # the file from standard input
  lnic decode huge.lnic -o out.png --max-pixels 4000000

Output formats (all lossless): .png, .ppm/.pgm/.pnm (Netpbm), .pam, .tif/.tiff, .bmp; a name
without an extension (-, /dev/null, a FIFO) gets PNG. The file's ICC profile is written into
PNG and TIFF outputs. Devices, FIFOs and standard output are written in place; a regular file
is replaced only once the whole image is ready; a symbolic link keeps pointing to its target;
the input file is never overwritten.
"""

_INFO_EPILOG = """\
examples:
  lnic info photo.lnic
  lnic info --json photo.lnic | jq .section_bytes
"""


def _encode_epilog() -> str:
    from lnic.encoder.presets import (
        MAX_STEP_SCALE,
        PRESETS,
        QUALITY_LAMBDAS,
        SMALL_IMAGE_STEPS,
        STEP_RAMP_PIXELS,
    )

    lambdas = "   ".join(f"{q}: {lam:g}" for q, lam in QUALITY_LAMBDAS.items())
    presets = "\n".join(f"  {p.name:<8} {p.describe()}" for p in PRESETS.values())
    return f"""\
examples:
  lnic encode photo.png -o photo.lnic                 # quality 4, default preset
  lnic encode photo.jpg -o photo.lnic --quality 7     # higher quality, more bits
  lnic encode photo.heic -o photo.lnic --bpp 0.5      # aim at 0.5 bits per pixel
  lnic encode photo.png -o photo.lnic --preset fast   # quick look (under a minute)
  lnic encode - -o photo.lnic < photo.png             # the image from standard input
  lnic encode photo.png -o photo.lnic --json          # last line: one JSON object
  lnic encode photos/ -o encoded/ --preset fast       # every image in photos/, 1 per core
  lnic encode a.png b.jpg -o encoded/ --workers 2     # several files, two at a time
  lnic encode photos/ -o encoded/ --ray head:6379     # as tasks on a Ray cluster

batch runs: the outputs are OUTDIR/NAME.lnic; OUTDIR/summary.csv has one row per input (file,
output, status ok/skipped/failed, bytes, bpp, psnr, seconds, settings, error). A re-run skips
outputs already made with the same settings (quality, lambda, size, bpp, preset, steps, seed)
and encodes the others again; a file that fails (or whose worker is killed) leaves no output,
and the exit code is 1.

input: any image Pillow reads (PNG, JPEG, WebP, TIFF, BMP, ...; HEIC with pillow-heif
installed), 8-bit or 16-bit, RGB or grayscale, 16x16 up to 16384 per side. The EXIF
orientation is applied, so photos come out upright; an ICC profile is carried in the file.
16-bit samples are reduced to 8 bits (PNG and TIFF: the high byte of each sample), with a
notice. Images with an alpha channel are refused. EXIF data is not kept.

quality -> lambda (loss = MSE + lambda * bits/pixel, MSE on 0..1 images):
  {lambdas}

presets (optimisation steps for a 768x512 image; smaller images get up to {MAX_STEP_SCALE:g}x more
from {STEP_RAMP_PIXELS} pixels up and at most {SMALL_IMAGE_STEPS} steps below; small images get a
smaller decoder):
{presets}
"""


BENCH_DESCRIPTION = "Rate-distortion benchmark against classical and published codecs."


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _common(
    cmd: argparse.ArgumentParser, threads: str = "", default: str = "their own defaults"
) -> None:
    cmd.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object as the last line (on stderr when the output is stdout)",
    )
    cmd.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (and --json's object)"
    )
    if threads:
        cmd.add_argument(
            "--threads",
            type=_positive_int,
            metavar="N",
            help=f"threads for {threads} (default: {default})",
        )


def _add_encode(sub) -> None:
    from lnic.encoder.presets import DEFAULT_PRESET, PRESETS

    enc = sub.add_parser(
        "encode",
        help="fit a decoder to an image and write an .lnic bitstream",
        description="Fit latents and a tiny decoder to one image, quantize and range-code them,\n"
        "then decode the written file to check it. Several inputs or a folder: each image\n"
        "into its own file in the output folder, on parallel workers.",
        epilog=_encode_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    enc.add_argument(
        "input",
        nargs="+",
        help="image file, or - for standard input; several files or folders (the images "
        "directly inside them) make a batch run into the folder given by -o",
    )
    enc.add_argument(
        "-o",
        "--output",
        required=True,
        help=".lnic file, or - for standard output; for a batch run, the output folder "
        "(created if missing)",
    )
    rate = enc.add_mutually_exclusive_group()
    rate.add_argument(
        "-q",
        "--quality",
        type=int,
        choices=range(1, 9),
        metavar="Q",
        help="quality 1 (smallest) .. 8 (best); default 4",
    )
    rate.add_argument(
        "--lmbda", type=_positive_float, metavar="L", help="rate-distortion lambda (experts)"
    )
    rate.add_argument(
        "--size",
        type=_positive_int,
        metavar="BYTES",
        help="aim at a file size: the encoder steers lambda while it trains",
    )
    rate.add_argument(
        "--bpp", type=_positive_float, metavar="B", help="aim at bits per pixel (as --size)"
    )
    enc.add_argument(
        "-p",
        "--preset",
        default=DEFAULT_PRESET,
        choices=list(PRESETS),
        help="encoder effort: fast (quick look), default, slow (best rate-distortion)",
    )
    enc.add_argument(
        "--steps",
        type=_positive_int,
        metavar="N",
        help="optimisation steps (default: preset's); a trial or race of starts adds its own",
    )
    enc.add_argument("--seed", type=int, default=0, help="random seed of the encoder (default 0)")
    enc.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the per-module MAC table and the encoder's choices",
    )
    enc.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _common(
        enc,
        threads="torch, OpenMP and numba",
        default="their own defaults; in a batch run, of each worker: 1",
    )
    batch = enc.add_argument_group("batch runs (several inputs or a folder)")
    batch.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="encodes at once: local processes (default: the CPU cores), or with --ray the "
        "tasks in flight (default: the cluster's CPUs / --threads)",
    )
    batch.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the encodes as tasks on the Ray cluster at ADDRESS (HOST:PORT); "
        "needs pip install 'lnic[cluster]'",
    )


def _add_decode_and_info(sub) -> None:
    dec = sub.add_parser(
        "decode",
        help="decode an .lnic bitstream to a PNG (or another lossless format)",
        description="Decode an .lnic file to an 8-bit image (RGB, or grayscale if coded so).",
        epilog=_DECODE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dec.add_argument("input", help=".lnic file, or - for standard input")
    dec.add_argument(
        "-o", "--output", required=True, help="image file (format by extension), or - for stdout"
    )
    dec.add_argument(
        "--max-pixels",
        type=_positive_int,
        metavar="N",
        help="refuse files that declare more than N pixels, before decoding anything "
        "(default: 16777216, i.e. 2**24)",
    )
    _common(dec, threads="numba and OpenMP")
    info = sub.add_parser(
        "info",
        help="describe an .lnic bitstream without decoding the image",
        description="Print image size, architecture, decoder MAC/pixel and where the bytes go.",
        epilog=_INFO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("input", help=".lnic file, or - for standard input")
    _common(info)


def build_parser(with_bench: bool = True) -> argparse.ArgumentParser:
    """The whole parser; ``with_bench=False`` leaves the bench sub-command's own arguments out,
    so that ``encode``, ``decode`` and ``info`` never import the benchmark harness."""
    codes = "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="lnic",
        description="lnic: a lightweight overfitted neural image codec (<= 2 kMAC/pixel decoder).",
        epilog=_MAIN_EPILOG.format(codes=codes),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lnic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_encode(sub)
    _add_decode_and_info(sub)
    if not with_bench:
        sub.add_parser("bench", help=BENCH_DESCRIPTION.rstrip(".").lower())
        return parser
    from lnic.bench import cli as bench_cli

    bench = sub.add_parser(
        "bench",
        help=BENCH_DESCRIPTION.rstrip(".").lower(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(bench_cli.__doc__ or "").strip(),
    )
    bench_cli.add_arguments(bench)
    return parser


def _wants_bench(argv: list[str]) -> bool:
    """True when the first positional argument selects the bench sub-command."""
    positional = [a for a in argv if not a.startswith("-")]
    return bool(positional) and positional[0] == "bench"


def _run(args: argparse.Namespace) -> int:
    if args.command == "bench":
        from lnic.bench import cli as bench_cli

        return bench_cli.run(args)
    from lnic import commands

    return {
        "encode": commands.cmd_encode,
        "decode": commands.cmd_decode,
        "info": commands.cmd_info,
    }[args.command](args)


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that the interpreter's final flush
    does not print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lnic`` console script; returns one of :data:`EXIT_CODES`."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(with_bench=_wants_bench(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "threads", None):
        set_threads(args.threads)
    verbose = getattr(args, "verbose", False)
    quiet = getattr(args, "quiet", False)
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    prefix = f"lnic {args.command}"
    try:
        with warnings.catch_warnings():
            if not verbose:  # numpy's, numba's and Pillow's: a failure says it in one line
                warnings.simplefilter("ignore")
            return _run(args)
    except LnicError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{prefix}: error: out of memory", file=sys.stderr)
    except BrokenPipeError:
        _silence_stdout()
        print(f"{prefix}: error: the output pipe was closed early", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
