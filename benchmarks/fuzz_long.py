"""Long fuzz campaign of the decoder: CRC-valid mutations of small valid files (issue 22).

Every case is a mutated copy of a seed file whose CRC-32 is recomputed, so it reaches the
header checks, the section-size checks, the weight parser, the range decoder, the escape reader
and the reconstruction. Property (as ``tests/test_fuzz.py``): :func:`lnic.decoder.decode_bytes`
returns a uint8 image or raises an ``LnicError`` from one of the decoder's own checks (not its
last-resort wrapper, ``corrupt bitstream (...)``), emits no warning and takes under 20 s.

Mutations: bit flips anywhere (1-8 bits) or inside one section, byte overwrites, insertions and
deletions (whole file, or inside one section with the header's sizes kept consistent), one
header field set to a plausible or random value, sections of one seed behind the header of
another, bytes appended to or cut from one section. Seeds: the two golden files, four files of
the hostile corpus that decode (1x1, extreme weights, and crafted 16x96 and 96x16 files).

    LNIC_DECODE_LOOP=compiled nice -n 15 python benchmarks/fuzz_long.py --cases 30000 --seed 1
    LNIC_NO_NUMBA=1 nice -n 15 python benchmarks/fuzz_long.py --cases 30000 --seed 2

Prints a progress line every 1,000 cases and a JSON summary last (outcomes by message, crashes
with the case's seed and bytes in hex, the slowest case).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data"
sys.path.insert(0, str(DATA / "hostile"))

from make_hostile import crafted_bitstream, fix_crc  # noqa: E402

from lnic.bitstream.container import unpack_file  # noqa: E402
from lnic.bitstream.header import HEADER_FIELDS, HEADER_SIZE, field_offset  # noqa: E402
from lnic.decoder import decode_bytes  # noqa: E402
from lnic.errors import LnicError  # noqa: E402

CATCH_ALL = "corrupt bitstream ("
SECTIONS = ("weights", "latents", "escapes")
_SIZE_FIELDS = {"weights": "weight_bytes", "latents": "latent_bytes", "escapes": "escape_bytes"}


def seeds() -> list[bytes]:
    files = [DATA / "golden.lnic", DATA / "golden_synthetic.lnic"]
    files += [DATA / "hostile" / n for n in ("one_pixel_1x1.lnic", "extreme_weights.lnic")]
    out = [p.read_bytes() for p in files]
    out.append(crafted_bitstream(96, 16, channels=1, seed=7, spread=4.0))
    out.append(crafted_bitstream(16, 96, seed=8, spread=30.0, arm_layers=3))
    return out


def _section_span(data: bytes, name: str) -> tuple[int, int]:
    s = unpack_file(data)
    a = HEADER_SIZE
    b = a + len(s.weights)
    c = b + len(s.latents)
    return {"weights": (a, b), "latents": (b, c), "escapes": (c, c + len(s.escapes))}[name]


def _resize_section(data: bytearray, name: str, new: bytes) -> bytearray:
    """``data`` with section ``name`` replaced by ``new`` and the header's size updated."""
    a, b = _section_span(bytes(data), name)
    out = data[:a] + bytearray(new) + data[b:]
    struct.pack_into("<I", out, field_offset(_SIZE_FIELDS[name]), len(new))
    return out


def _mutate_section(rng: np.random.Generator, data: bytearray, kind: str) -> bytearray:
    """Grow, shrink or edit one section, keeping the header's sizes consistent."""
    name = str(rng.choice(SECTIONS))
    a, b = _section_span(bytes(data), name)
    section = bytes(data[a:b])
    if kind == "grow_section":
        extra = rng.integers(0, 256, rng.integers(1, 9), dtype=np.uint8).tobytes()
        section = section + (bytes(len(extra)) if rng.random() < 0.5 else extra)
    elif kind == "shrink_section":
        section = section[: max(0, len(section) - int(rng.integers(1, 9)))]
    elif section:
        pos = int(rng.integers(0, len(section)))
        chunk = rng.integers(0, 256, rng.integers(1, 9), dtype=np.uint8).tobytes()
        section = section[:pos] + chunk + section[pos + int(rng.integers(0, 9)) :]
    return _resize_section(data, name, section)


def mutate(rng: np.random.Generator, pool: list[bytes]) -> tuple[bytes, str]:
    data = bytearray(pool[rng.integers(len(pool))])
    n = len(data)
    kind = str(
        rng.choice(
            ["flip", "flip_section", "overwrite", "insert", "delete", "header_field", "splice"]
            + ["grow_section", "shrink_section", "edit_section"]
        )
    )
    if kind == "flip":
        for bit in rng.integers(0, 8 * (n - 4), rng.integers(1, 9)):
            data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "flip_section":
        a, b = _section_span(bytes(data), str(rng.choice(SECTIONS)))
        if b > a:
            for bit in rng.integers(8 * a, 8 * b, rng.integers(1, 9)):
                data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "overwrite":
        pos = int(rng.integers(0, n - 4))
        chunk = rng.integers(0, 256, rng.integers(1, 65), dtype=np.uint8).tobytes()
        data[pos : pos + len(chunk)] = chunk[: n - 4 - pos]
    elif kind == "insert":
        pos = int(rng.integers(0, n - 3))
        data[pos:pos] = rng.integers(0, 256, rng.integers(1, 65), dtype=np.uint8).tobytes()
    elif kind == "delete":
        pos = int(rng.integers(0, n - 4))
        del data[pos : pos + int(rng.integers(1, 65))]
    elif kind == "header_field":
        field = str(rng.choice([f for f in HEADER_FIELDS if f != "magic"]))
        fmt = "<" + HEADER_FIELDS[field]
        size = struct.calcsize(fmt)
        if rng.random() < 0.5:
            value = int(rng.integers(0, 65))
        else:
            value = int(rng.integers(0, 2 ** (8 * size), dtype=np.uint64))
        struct.pack_into(fmt, data, field_offset(field), value)
    elif kind == "splice":
        other = pool[rng.integers(len(pool))]
        data = data[:HEADER_SIZE] + bytearray(other[HEADER_SIZE:])
    else:
        data = _mutate_section(rng, data, kind)
    if len(data) < 4:
        data += bytes(4)
    return fix_crc(bytes(data)), kind


_NUMBERS = re.compile(r"\d+")


def run(cases: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    pool = seeds()
    if os.environ.get("LNIC_DECODE_LOOP") == "compiled":
        from lnic.bitstream import arm_kernels

        arm_kernels.load()  # (compiled, or loaded from the cache, before any case is timed)
    from lnic.bitstream import c_kernels
    from lnic.decoder import c_kernels as pixel_kernels

    c_kernels.load(), pixel_kernels.load()  # (the C kernels too, where they are used)
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    failures, slowest = [], []
    start = time.perf_counter()
    for i in range(cases):
        data, kind = mutate(rng, pool)
        kinds[kind] += 1
        t = time.perf_counter()
        problem = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                image = decode_bytes(data)
                outcome = "decoded"
                if image.dtype != np.uint8 or image.ndim not in (2, 3):
                    problem = f"bad image {image.dtype} {image.shape}"
            except LnicError as exc:
                outcome = _NUMBERS.sub("N", str(exc))[:90]
                if str(exc).startswith(CATCH_ALL):
                    problem = f"unforeseen failure: {exc}"
            except Exception as exc:  # a crash: what this campaign looks for
                outcome = "CRASH"
                problem = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - t
        if caught:
            problem = f"warnings: {[str(w.message) for w in caught]}"
        if seconds > 20:
            problem = f"slow: {seconds:.1f} s"
        slowest = sorted([*slowest, (seconds, i, kind, outcome)], reverse=True)[:5]
        outcomes[outcome] += 1
        if problem:
            failures.append({"case": i, "kind": kind, "problem": problem, "hex": data.hex()})
            print(json.dumps(failures[-1])[:300], flush=True)
        if (i + 1) % 1000 == 0:
            elapsed = time.perf_counter() - start
            print(f"{i + 1} cases, {elapsed:.0f} s, {len(failures)} failures", flush=True)
    return {
        "cases": cases,
        "seed": seed,
        "loop": "numpy (LNIC_NO_NUMBA)"
        if os.environ.get("LNIC_NO_NUMBA")
        else os.environ.get("LNIC_DECODE_LOOP", "auto"),
        "seconds": round(time.perf_counter() - start, 1),
        "failures": failures,
        "slowest": [
            {"seconds": round(t, 3), "case": i, "kind": k, "outcome": o} for t, i, k, o in slowest
        ],
        "mutations": dict(kinds.most_common()),
        "outcomes": dict(outcomes.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    summary = run(args.cases, args.seed)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
