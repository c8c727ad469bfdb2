"""Implementations of ``lnic encode``, ``lnic decode`` and ``lnic info`` (argument parsing is
in :mod:`lnic.cli`).

Each command checks its input and output before the work starts, names the file in every
error, and prints its own lines to standard output, or to standard error when standard output
carries the image or the bitstream.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TextIO

from lnic.errors import InputError, LnicError
from lnic.inputs import open_input
from lnic.outputs import STDIO, Output, resolve_output, write_output

MAX_FILE_BYTES = 1 << 30
"""Files larger than this are refused before reading (a legal file of the largest image is far
smaller: 40 M pixels at 24 bits per pixel would be 120 MB; an image to encode is at most a
few hundred megabytes)."""


def print_json(obj: dict, stream: TextIO | None = None) -> None:
    """Print one JSON object on one line (the last line of a ``--json`` run)."""
    print(json.dumps(obj, sort_keys=False), file=stream or sys.stdout)


def _display(name: str) -> str:
    return "standard input" if name == STDIO else name


class _Messages:
    """A command's own lines: results on stdout (stderr when stdout carries the output),
    notes on stderr, nothing but errors and JSON with ``--quiet``."""

    def __init__(self, args: argparse.Namespace, out: Output | None = None) -> None:
        self.quiet = args.quiet
        self.prefix = f"lnic {args.command}"
        self.stream = sys.stderr if out is not None and out.is_stdout else sys.stdout

    def note(self, text: str) -> None:
        if not self.quiet:
            print(f"{self.prefix}: note: {text}", file=sys.stderr)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream)

    def json(self, obj: dict) -> None:
        print_json(obj, self.stream)


def _progress_bar(enabled: bool):
    """A tqdm bar on a terminal (or when forced); returns (callback, close)."""
    if not enabled:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="step", desc="training", leave=False, dynamic_ncols=True)

    def update(step: int, total: int, stats: dict[str, float]) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = step
        phase = "ste" if stats.get("phase") else "noise"
        bar.set_postfix_str(
            f"{phase} loss={stats['loss']:.5f} bpp={stats['bpp']:.3f}", refresh=False
        )
        bar.refresh()

    return update, bar.close


def _refuse_image_name(out: Output) -> None:
    """``lnic encode`` writes .lnic files: an output named like an image is a mistake."""
    if out.suffix in ("", ".lnic"):
        return
    from PIL import Image

    fmt = Image.registered_extensions().get(out.suffix)
    if fmt is not None and fmt != "LNIC":
        raise InputError(
            f"{out.name}: lnic encode writes .lnic files, not {fmt} images; name the output .lnic"
        )


def _import_encoder() -> None:
    try:
        import lnic.encoder.encode  # noqa: F401
    except ImportError as exc:
        raise LnicError(
            f"encoding needs {exc.name or 'the encoder dependencies'}, which is not installed: "
            "pip install 'lnic[encode]'"
        ) from exc


def _is_batch(inputs: list[str]) -> bool:
    """Several inputs, or one folder: a batch run into an output folder."""
    return len(inputs) > 1 or (inputs[0] != STDIO and os.path.isdir(inputs[0]))


def cmd_encode(args: argparse.Namespace) -> int:
    if _is_batch(args.input):
        from lnic.commands_batch import cmd_encode_batch

        return cmd_encode_batch(args)
    from lnic.api import encode_result
    from lnic.image_io import load_image

    (input_name,) = args.input
    msgs = _Messages(args)
    for flag in ("workers", "ray"):
        if getattr(args, flag) is not None:
            msgs.note(f"--{flag} applies to batch runs (several inputs or a folder); ignored")
    source = open_input(input_name, MAX_FILE_BYTES, read=False)
    out = resolve_output(args.output, [source.ident])
    _refuse_image_name(out)
    msgs = _Messages(args, out)
    name = _display(input_name)
    image = load_image(source.path or source.data, name)
    _import_encoder()
    for note in image.notes:
        msgs.note(note)
    callback, close = _progress_bar(not (args.no_progress or args.quiet) and sys.stderr.isatty())
    try:
        result = encode_result(
            image.pixels,
            args.quality,
            args.preset,
            args.lmbda,
            args.seed,
            callback,
            target_bytes=args.size,
            target_bpp=args.bpp,
            steps=args.steps,
            icc_profile=image.icc_profile,
        )
    except LnicError as exc:
        raise LnicError(f"{name}: {exc}") from exc
    finally:
        close()
    write_output(out, result.bitstream)
    summary = result.summary() | {"input": name, "output": out.name}
    if args.verbose and not args.quiet:
        msgs.say("decoder complexity (multiply-accumulates per pixel):")
        for module, macs in result.mac_table.items():
            msgs.say(f"  {module:<12} {macs:10.1f}")
    if args.json:
        msgs.json(summary)
        return 0
    target = f", lambda {result.lmbda:.4g}" if args.size or args.bpp else ""
    msgs.say(
        f"{out.name}: {len(result.bitstream)} bytes, {result.bpp:.4f} bpp, "
        f"PSNR-RGB {result.psnr_rgb:.3f} dB, {result.mac_table['total']:.0f} MAC/pixel, "
        f"encoded in {result.encode_seconds:.1f} s{target}"
    )
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    """``lnic decode IN.lnic -o OUT.png``: every failure is one LnicError (one line on stderr)
    and leaves no output behind."""
    from lnic.api import decode
    from lnic.bitstream.container import unpack_prefix
    from lnic.image_formats import check_channels, image_bytes, output_format

    source = open_input(args.input, MAX_FILE_BYTES)
    out = resolve_output(args.output, [source.ident])
    fmt = output_format(out.name, out.suffix)
    msgs = _Messages(args, out)
    name = _display(args.input)
    t = time.perf_counter()
    try:
        header, icc = unpack_prefix(source.data)
        check_channels(out.name, fmt, header.channels)
        image = decode(source.data, max_pixels=args.max_pixels)
    except InputError:
        raise
    except LnicError as exc:
        raise LnicError(f"{name}: {exc}") from exc
    seconds = time.perf_counter() - t
    if icc is not None and not fmt.carries_icc:
        msgs.note(f"{out.name}: {fmt.name} files do not carry the ICC profile; it is dropped")
    write_output(out, image_bytes(image, fmt, icc))
    h, w = image.shape[:2]
    if args.json:
        msgs.json(
            {
                "input": name,
                "output": out.name,
                "format": fmt.name,
                "width": w,
                "height": h,
                "channels": 1 if image.ndim == 2 else 3,
                "icc_profile_bytes": len(icc or b""),
                "decode_seconds": seconds,
            }
        )
    else:
        msgs.say(f"{out.name}: {w}x{h} {fmt.name}, decoded in {seconds * 1000:.0f} ms")
    return 0


def bitstream_info(data: bytes) -> dict:
    """What ``lnic info`` reports about a bitstream (without decoding the latents)."""
    from lnic.bitstream.container import unpack_file
    from lnic.bitstream.weights import decode_weights
    from lnic.decoder import validate_modules

    sections = unpack_file(data)
    h = sections.header
    weights = decode_weights(sections.weights, h.arch.weight_shapes())
    validate_modules(weights)
    macs = h.arch.mac_table(h.height, h.width)
    return {
        "format_version": h.version,
        "width": h.width,
        "height": h.height,
        "channels": h.channels,
        "bytes": len(data),
        "bpp": 8.0 * len(data) / (h.width * h.height),
        "icc_profile_bytes": len(sections.icc_profile or b""),
        "mac_per_pixel": macs["total"],
        "mac_per_pixel_by_module": {k: v for k, v in macs.items() if k != "total"},
        "architecture": {
            "levels": h.arch.levels,
            "arm_hidden": h.arch.arm_hidden,
            "arm_layers": h.arch.arm_layers,
            "synth_hidden": h.arch.synth_hidden,
        },
        "weight_steps": {
            name: {"e_w": layers[0].e_w, "e_b": layers[0].e_b}
            for name, layers in weights.modules().items()
        },
        "section_bytes": sections.section_bytes(),
    }


def cmd_info(args: argparse.Namespace) -> int:
    from lnic.errors import BitstreamError

    name = _display(args.input)
    data = open_input(args.input, MAX_FILE_BYTES).data
    try:
        info = bitstream_info(data)
    except LnicError as exc:
        raise LnicError(f"{name}: {exc}") from exc
    except Exception as exc:
        raise BitstreamError(f"{name}: corrupt bitstream ({type(exc).__name__}: {exc})") from exc
    msgs = _Messages(args)
    if args.json:
        msgs.json(info)
        return 0
    a = info["architecture"]
    icc = f", ICC profile {info['icc_profile_bytes']} bytes" if info["icc_profile_bytes"] else ""
    msgs.say(
        f"{name}: lnic format v{info['format_version']}, {info['width']}x{info['height']}, "
        f"{info['channels']} channel(s){icc}"
    )
    msgs.say(
        f"  size        {info['bytes']} bytes ({info['bpp']:.4f} bpp): "
        + ", ".join(f"{k} {v}" for k, v in info["section_bytes"].items())
    )
    msgs.say(
        f"  decoder     {a['levels']} latent grids, ARM hidden {a['arm_hidden']}x"
        f"{a['arm_layers']}, synthesis hidden {a['synth_hidden']}"
    )
    msgs.say(
        f"  complexity  {info['mac_per_pixel']:.0f} MAC/pixel ("
        + ", ".join(f"{k} {v:.0f}" for k, v in info["mac_per_pixel_by_module"].items())
        + ")"
    )
    return 0
