"""Implementations of ``lnic encode``, ``lnic decode`` and ``lnic info`` (argument parsing is
in :mod:`lnic.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lnic.errors import InputError, LnicError


def print_json(obj: dict) -> None:
    """Print one JSON object on one line (the last line of a ``--json`` run)."""
    print(json.dumps(obj, sort_keys=False))


MAX_FILE_BYTES = 1 << 30
"""Files larger than this are refused before reading (a legal file of the largest image is far
smaller: 40 M pixels at 24 bits per pixel would be 120 MB)."""


def _read_bitstream(path: str) -> bytes:
    """Read a whole .lnic file; missing, unreadable or absurdly large files are an InputError."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path}: is a folder, not a file")
    if not p.is_file():
        raise InputError(f"{path}: no such file")
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: {p.stat().st_size} bytes is too large for an lnic file")
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _check_output(path: str) -> Path:
    """Refuse an output path that cannot be written, before any work is done."""
    out = Path(path)
    if not str(path):
        raise InputError("empty output path")
    if out.is_dir():
        raise InputError(f"{out}: is a folder")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{out}: output folder {folder} does not exist")
    return out


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


def cmd_encode(args: argparse.Namespace) -> int:
    from lnic.encoder.encode import encode_array, resolve_lambda
    from lnic.encoder.presets import get_preset
    from lnic.image_io import atomic_write, read_image

    resolve_lambda(args.quality, args.lmbda)  # validate before the (long) work starts
    get_preset(args.preset)
    image = read_image(args.input)
    out = Path(args.output)
    if out.is_dir():
        raise LnicError(f"{out}: is a folder")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise LnicError(f"{out}: output folder {out.parent} does not exist")
    callback, close = _progress_bar(not args.no_progress and sys.stderr.isatty())
    try:
        result = encode_array(
            image,
            quality=args.quality,
            preset=args.preset,
            lmbda=args.lmbda,
            seed=args.seed,
            progress=callback,
        )
    finally:
        close()
    atomic_write(out, result.bitstream)
    summary = result.summary()
    summary["input"] = str(args.input)
    summary["output"] = str(out)
    if args.verbose:
        print("decoder complexity (multiply-accumulates per pixel):")
        for name, macs in result.mac_table.items():
            print(f"  {name:<12} {macs:10.1f}")
    if not args.json:
        print(
            f"{out}: {len(result.bitstream)} bytes, {result.bpp:.4f} bpp, "
            f"PSNR-RGB {result.psnr_rgb:.3f} dB, {result.mac_table['total']:.0f} MAC/pixel, "
            f"encoded in {result.encode_seconds:.1f} s"
        )
    else:
        print_json(summary)
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    """``lnic decode IN.lnic -o OUT.png``: every failure is one LnicError (one line on stderr);
    the PNG is written to a temporary file and renamed, so no partial output is left behind."""
    from lnic.decoder import decode_bytes
    from lnic.image_io import write_png

    out = _check_output(args.output)
    data = _read_bitstream(args.input)
    t = time.perf_counter()
    image = decode_bytes(data)
    seconds = time.perf_counter() - t
    write_png(out, image)
    h, w = image.shape[:2]
    if args.json:
        print_json(
            {
                "input": args.input,
                "output": args.output,
                "width": w,
                "height": h,
                "channels": 1 if image.ndim == 2 else 3,
                "decode_seconds": seconds,
            }
        )
    else:
        print(f"{args.output}: {w}x{h}, decoded in {seconds * 1000:.0f} ms")
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

    data = _read_bitstream(args.input)
    try:
        info = bitstream_info(data)
    except LnicError:
        raise
    except Exception as exc:
        raise BitstreamError(f"corrupt bitstream ({type(exc).__name__}: {exc})") from exc
    if args.json:
        print_json(info)
        return 0
    a = info["architecture"]
    print(
        f"{args.input}: lnic format v{info['format_version']}, {info['width']}x{info['height']}, "
        f"{info['channels']} channel(s)"
    )
    print(
        f"  size        {info['bytes']} bytes ({info['bpp']:.4f} bpp): "
        + ", ".join(f"{k} {v}" for k, v in info["section_bytes"].items())
    )
    print(
        f"  decoder     {a['levels']} latent grids, ARM hidden {a['arm_hidden']}x"
        f"{a['arm_layers']}, synthesis hidden {a['synth_hidden']}"
    )
    print(
        f"  complexity  {info['mac_per_pixel']:.0f} MAC/pixel ("
        + ", ".join(f"{k} {v:.0f}" for k, v in info["mac_per_pixel_by_module"].items())
        + ")"
    )
    return 0
