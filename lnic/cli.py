"""The ``lnic`` command line: encode, decode, info and bench.

Every error a user can cause ends as one line on stderr and a non-zero exit code; output files are
written through a temporary file and renamed, so a failure never leaves a partial file behind.
"""

from __future__ import annotations

import argparse
import logging
import sys

from lnic import __version__
from lnic.errors import LnicError


def _encode_epilog() -> str:
    from lnic.encoder.presets import MAX_STEP_SCALE, PRESETS, QUALITY_LAMBDAS

    lambdas = "   ".join(f"{q}: {lam:g}" for q, lam in QUALITY_LAMBDAS.items())
    presets = "\n".join(f"  {p.name:<8} {p.describe()}" for p in PRESETS.values())
    return f"""\
examples:
  lnic encode photo.png -o photo.lnic                 # quality 4, default preset
  lnic encode photo.png -o photo.lnic --quality 7     # higher quality, more bits
  lnic encode photo.png -o photo.lnic --preset fast   # quick look (under a minute)
  lnic encode photo.png -o photo.lnic --json          # last line: one JSON object

quality -> lambda (loss = MSE + lambda * bits/pixel, MSE on 0..1 images):
  {lambdas}

presets (optimisation steps for a 768x512 image; smaller images get up to {MAX_STEP_SCALE:g}x more):
{presets}
"""


BENCH_DESCRIPTION = "Rate-distortion benchmark against classical and published codecs."


def _build_parser(with_bench: bool = True) -> argparse.ArgumentParser:
    """The whole parser; ``with_bench=False`` leaves the bench sub-command's own arguments out,
    so that ``encode``, ``decode`` and ``info`` never import the benchmark harness."""
    parser = argparse.ArgumentParser(
        prog="lnic",
        description="lnic: a lightweight overfitted neural image codec (<= 2 kMAC/pixel decoder).",
    )
    parser.add_argument("--version", action="version", version=f"lnic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    enc = sub.add_parser(
        "encode",
        help="fit a decoder to an image and write an .lnic bitstream",
        description="Fit latents and a tiny decoder to one image, quantize and range-code them, "
        "then decode the written file to check it.",
        epilog=_encode_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    enc.add_argument("input", help="8-bit RGB or grayscale PNG (any size >= 16x16)")
    enc.add_argument("-o", "--output", required=True, help="output .lnic file")
    group = enc.add_mutually_exclusive_group()
    group.add_argument(
        "-q",
        "--quality",
        type=int,
        default=None,
        choices=range(1, 9),
        metavar="Q",
        help="quality 1 (smallest) .. 8 (best); default 4",
    )
    group.add_argument("--lmbda", type=float, default=None, help="rate-distortion lambda (experts)")
    enc.add_argument(
        "-p",
        "--preset",
        default="default",
        choices=["fast", "default", "slow"],
        help="encoder effort: fast (quick look), default, slow (best rate-distortion)",
    )
    enc.add_argument("--seed", type=int, default=0, help="random seed of the encoder (default 0)")
    enc.add_argument("-v", "--verbose", action="store_true", help="print the per-module MAC table")
    enc.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    enc.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    dec = sub.add_parser(
        "decode",
        help="decode an .lnic bitstream to a PNG",
        description="Decode an .lnic file to an 8-bit PNG (RGB, or grayscale if coded so).",
    )
    dec.add_argument("input", help=".lnic file")
    dec.add_argument("-o", "--output", required=True, help="output PNG file")
    dec.add_argument("--json", action="store_true", help="print one JSON object as the last line")

    info = sub.add_parser(
        "info",
        help="describe an .lnic bitstream without decoding the image",
        description="Print image size, architecture, decoder MAC/pixel and where the bytes go.",
    )
    info.add_argument("input", help=".lnic file")
    info.add_argument("--json", action="store_true", help="print one JSON object")

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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lnic`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _build_parser(with_bench=_wants_bench(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "encode":
            from lnic.commands import cmd_encode

            return cmd_encode(args)
        if args.command == "decode":
            from lnic.commands import cmd_decode

            return cmd_decode(args)
        if args.command == "info":
            from lnic.commands import cmd_info

            return cmd_info(args)
        if args.command == "bench":
            from lnic.bench import cli as bench_cli

            return bench_cli.run(args)
    except LnicError as exc:
        print(f"lnic {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lnic {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"lnic {args.command}: error: out of memory", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
